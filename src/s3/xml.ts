/**
 * S3 speaks a small, regular subset of XML: elements with text or child elements, no mixed
 * content, attributes only on the root. This module renders responses and parses request
 * bodies (DeleteObjects, CompleteMultipartUpload, CreateBucketConfiguration, ACLs) with
 * limits, rejecting anything malformed as S3's MalformedXML.
 */

import { S3Error } from "./errors.ts";

export const S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/";
const encoder = new TextEncoder();

/** A value renders as text; an array repeats its element; an object nests elements in order. */
export type XmlValue =
  | string
  | number
  | boolean
  | bigint
  | Date
  | undefined
  | null
  | XmlValue[]
  | { [element: string]: XmlValue };

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
  "\r": "&#13;",
  "\n": "&#10;",
  "\t": "&#9;",
};

export function escapeXml(text: string): string {
  return text.replace(/[&<>"'\r\n\t]/g, (c) => ESCAPES[c]);
}

function renderElement(name: string, value: XmlValue, out: string[]): void {
  if (value === undefined || value === null) return;
  if (Array.isArray(value)) {
    for (const item of value) renderElement(name, item, out);
    return;
  }
  out.push(`<${name}>`);
  if (value instanceof Date) out.push(value.toISOString());
  else if (typeof value === "object") {
    for (const [child, v] of Object.entries(value)) renderElement(child, v, out);
  } else out.push(escapeXml(String(value)));
  out.push(`</${name}>`);
}

/** `<?xml …?><Root xmlns="…">…</Root>` */
export function renderXml(
  root: string,
  body: { [element: string]: XmlValue },
  namespace: string | undefined = S3_NAMESPACE,
): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>\n'];
  out.push(namespace ? `<${root} xmlns="${namespace}">` : `<${root}>`);
  for (const [child, v] of Object.entries(body)) renderElement(child, v, out);
  out.push(`</${root}>`);
  return out.join("");
}

export function xmlResponse(
  root: string,
  body: { [element: string]: XmlValue },
  init: ResponseInit = {},
): Response {
  const headers = new Headers(init.headers);
  headers.set("content-type", "application/xml");
  // A known length lets the HTTP layer send the document without stream machinery.
  const bytes = encoder.encode(renderXml(root, body));
  headers.set("content-length", String(bytes.length));
  return new Response(bytes, { ...init, headers });
}

export interface XmlElement {
  name: string;
  children: XmlElement[];
  text: string;
}

/** Finds the first child element by (namespace-free) name. */
export function child(element: XmlElement, name: string): XmlElement | undefined {
  return element.children.find((c) => c.name === name);
}

export function children(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((c) => c.name === name);
}

const MAX_DEPTH = 16;
/**
 * Elements in the largest legal body S3 takes: CompleteMultipartUpload with 10,000 parts of at
 * most 8 elements (Part, PartNumber, ETag and the five Checksum*), plus its root. Callers whose
 * documents are smaller pass their own bound.
 */
export const MAX_XML_ELEMENTS = 10_000 * 8 + 1;
const ENTITY: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** XML 1.0's Char production: what a character reference may name. */
function isXmlChar(code: number): boolean {
  return code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
}

function decodeEntities(text: string): string {
  return text.replace(/&([^;&<]{0,16});?/g, (whole, ref: string) => {
    if (!whole.endsWith(";")) throw malformed("an & that starts no reference");
    const numeric = /^#(?:x([0-9a-fA-F]{1,8})|([0-9]{1,10}))$/.exec(ref);
    if (numeric) {
      const code = numeric[1] !== undefined ? parseInt(numeric[1], 16) : Number(numeric[2]);
      if (!isXmlChar(code)) throw malformed(`${whole} names no XML character`);
      return String.fromCodePoint(code);
    }
    const entity = ENTITY[ref];
    if (entity === undefined) throw malformed(`unknown entity ${whole.slice(0, 20)}`);
    return entity;
  });
}

function malformed(detail: string): S3Error {
  return new S3Error(
    "MalformedXML",
    `The XML you provided was not well-formed or did not validate against our published schema (${detail}).`,
  );
}

/**
 * Parses a request body; element names lose any namespace prefix. Throws MalformedXML, also
 * once the document holds more than `maxElements` elements (counted as they are met, so an
 * oversized document costs no more than the legal part of it).
 */
export function parseXml(text: string, maxElements = MAX_XML_ELEMENTS): XmlElement {
  let pos = 0;
  let elements = 0;
  const skipMisc = () => {
    for (;;) {
      while (pos < text.length && /\s/.test(text[pos])) pos++;
      if (text.startsWith("<?", pos)) {
        const end = text.indexOf("?>", pos);
        if (end < 0) throw malformed("unterminated declaration");
        pos = end + 2;
      } else if (text.startsWith("<!--", pos)) {
        const end = text.indexOf("-->", pos);
        if (end < 0) throw malformed("unterminated comment");
        pos = end + 3;
      } else if (text.startsWith("<!", pos)) {
        throw malformed("DTDs are not accepted");
      } else return;
    }
  };
  const parseElement = (depth: number): XmlElement => {
    if (depth > MAX_DEPTH) throw malformed("nesting too deep");
    if (++elements > maxElements) throw malformed(`more than ${maxElements} elements`);
    const open = /^<([A-Za-z_][\w.:-]*)((?:\s+[\w.:-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/
      .exec(text.slice(pos, pos + 4096));
    if (!open) throw malformed(`expected an element at offset ${pos}`);
    pos += open[0].length;
    const name = open[1].replace(/^.*:/, "");
    const element: XmlElement = { name, children: [], text: "" };
    if (open[3] === "/") return element;
    let textParts = "";
    for (;;) {
      const lt = text.indexOf("<", pos);
      if (lt < 0) throw malformed(`unterminated element ${name}`);
      textParts += text.slice(pos, lt);
      pos = lt;
      if (text.startsWith("</", pos)) {
        const close = /^<\/([A-Za-z_][\w.:-]*)\s*>/.exec(text.slice(pos, pos + 512));
        if (!close || close[1] !== open[1]) throw malformed(`mismatched end tag of ${name}`);
        pos += close[0].length;
        break;
      }
      if (text.startsWith("<!--", pos)) {
        const end = text.indexOf("-->", pos);
        if (end < 0) throw malformed("unterminated comment");
        pos = end + 3;
        continue;
      }
      if (text.startsWith("<![CDATA[", pos)) {
        const end = text.indexOf("]]>", pos);
        if (end < 0) throw malformed("unterminated CDATA");
        textParts += text.slice(pos + 9, end).replace(/&/g, "&amp;").replace(/</g, "&lt;");
        pos = end + 3;
        continue;
      }
      element.children.push(parseElement(depth + 1));
    }
    if (element.children.length > 0 && textParts.trim() !== "") {
      throw malformed(`mixed content in ${name}`);
    }
    element.text = element.children.length > 0 ? "" : decodeEntities(textParts);
    return element;
  };
  skipMisc();
  const root = parseElement(0);
  skipMisc();
  if (pos !== text.length) throw malformed("content after the root element");
  return root;
}
