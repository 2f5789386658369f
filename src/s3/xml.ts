/**
 * S3 speaks a small, regular subset of XML: elements with text or child elements, no mixed
 * content, few attributes (xmlns declarations, an ACL Grantee's xsi:type). This module renders
 * responses and parses request bodies (DeleteObjects, CompleteMultipartUpload,
 * CreateBucketConfiguration, ACLs) with limits, rejecting anything malformed as S3's MalformedXML.
 */

import { S3Error } from "./errors.ts";

export const S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/";
const encoder = new TextEncoder();

/**
 * A value renders as text; an array repeats its element; an object nests elements in order; a
 * sequence renders its own elements in place of the one it is the value of.
 */
export type XmlValue =
  | string
  | number
  | boolean
  | bigint
  | Date
  | undefined
  | null
  | XmlSequence
  | XmlValue[]
  | { [element: string]: XmlValue };

/** Elements of different names in a given order (ListObjectVersions' Version and DeleteMarker). */
export class XmlSequence {
  constructor(readonly elements: [name: string, value: XmlValue][]) {}
}

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
  if (value instanceof XmlSequence) {
    for (const [element, v] of value.elements) renderElement(element, v, out);
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
  /** Attribute values by namespace-free name (`xsi:type` → `type`); absent when none. */
  attributes?: Record<string, string>;
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

function parseAttributes(raw: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (
    const [, name, double, single] of raw.matchAll(/([\w.:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)
  ) {
    attributes[name.replace(/^.*:/, "")] = decodeEntities(double ?? single);
  }
  return attributes;
}

/** One element being parsed: its text so far and the raw name its end tag must repeat. */
interface OpenElement {
  element: XmlElement;
  tag: string;
  text: string;
}

/**
 * The longest text an element may hold: a key of 1024 bytes with every byte escaped (6
 * characters a byte), with room to spare; the longest text of any S3 request document.
 */
const MAX_TEXT = 8192;
/** Elements between two looks at the clock. */
const CLOCK_EVERY = 64;
/** The longest a parse holds the event loop before it lets other work run. */
const SLICE_MS = 5;

/**
 * The parser behind parseXml and parseXmlYielding: an explicit stack instead of recursion, so
 * that it can stop between elements and go on later.
 */
class XmlParser {
  #pos = 0;
  #elements = 0;
  readonly #open: OpenElement[] = [];
  #root: XmlElement | undefined;

  constructor(readonly text: string, readonly maxElements: number) {}

  /** Parses until done (the root) or until `deadline` (performance.now()) passes. */
  run(deadline: number): XmlElement | undefined {
    const text = this.text;
    if (this.#elements === 0) {
      this.#skipMisc();
      if (this.#openElement()) return this.#end();
    }
    while (this.#open.length > 0) {
      const top = this.#open[this.#open.length - 1];
      const lt = text.indexOf("<", this.#pos);
      if (lt < 0) throw malformed(`unterminated element ${top.element.name}`);
      top.text += text.slice(this.#pos, lt);
      if (top.text.length > MAX_TEXT) throw malformed(`text of ${top.element.name} too long`);
      this.#pos = lt;
      if (text.startsWith("</", lt)) {
        this.#closeElement(top);
      } else if (text.startsWith("<!--", lt)) {
        this.#pos = this.#skipPast("-->", "unterminated comment");
      } else if (text.startsWith("<![CDATA[", lt)) {
        const end = this.#skipPast("]]>", "unterminated CDATA");
        top.text += text.slice(lt + 9, end - 3).replace(/&/g, "&amp;").replace(/</g, "&lt;");
        if (top.text.length > MAX_TEXT) throw malformed(`text of ${top.element.name} too long`);
        this.#pos = end;
      } else {
        this.#openElement();
      }
      if (this.#elements % CLOCK_EVERY === 0 && performance.now() > deadline) return undefined;
    }
    return this.#end();
  }

  #end(): XmlElement {
    this.#skipMisc();
    if (this.#pos !== this.text.length) throw malformed("content after the root element");
    return this.#root!;
  }

  #skipPast(marker: string, problem: string): number {
    const end = this.text.indexOf(marker, this.#pos);
    if (end < 0) throw malformed(problem);
    return end + marker.length;
  }

  #skipMisc(): void {
    const text = this.text;
    for (;;) {
      while (this.#pos < text.length && /\s/.test(text[this.#pos])) this.#pos++;
      if (text.startsWith("<?", this.#pos)) {
        this.#pos = this.#skipPast("?>", "unterminated declaration");
      } else if (text.startsWith("<!--", this.#pos)) {
        this.#pos = this.#skipPast("-->", "unterminated comment");
      } else if (text.startsWith("<!", this.#pos)) {
        throw malformed("DTDs are not accepted");
      } else return;
    }
  }

  /** Reads a start tag; returns true when it closed itself (`<a/>`). */
  #openElement(): boolean {
    if (this.#open.length > MAX_DEPTH) throw malformed("nesting too deep");
    if (++this.#elements > this.maxElements) {
      throw malformed(`more than ${this.maxElements} elements`);
    }
    const open = /^<([A-Za-z_][\w.:-]*)((?:\s+[\w.:-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/
      .exec(this.text.slice(this.#pos, this.#pos + 4096));
    if (!open) throw malformed(`expected an element at offset ${this.#pos}`);
    this.#pos += open[0].length;
    const element: XmlElement = { name: open[1].replace(/^.*:/, ""), children: [], text: "" };
    if (open[2] !== "") element.attributes = parseAttributes(open[2]);
    const parent = this.#open[this.#open.length - 1];
    if (parent) parent.element.children.push(element);
    else this.#root = element;
    if (open[3] === "/") return true;
    this.#open.push({ element, tag: open[1], text: "" });
    return false;
  }

  #closeElement(top: OpenElement): void {
    const close = /^<\/([A-Za-z_][\w.:-]*)\s*>/.exec(this.text.slice(this.#pos, this.#pos + 512));
    const element = top.element;
    if (!close || close[1] !== top.tag) throw malformed(`mismatched end tag of ${element.name}`);
    this.#pos += close[0].length;
    if (element.children.length > 0 && top.text.trim() !== "") {
      throw malformed(`mixed content in ${element.name}`);
    }
    element.text = element.children.length > 0 ? "" : decodeEntities(top.text);
    this.#open.pop();
  }
}

/**
 * Parses a request body; element names lose any namespace prefix. Throws MalformedXML, also
 * once the document holds more than `maxElements` elements (counted as they are met, so an
 * oversized document costs no more than the legal part of it).
 */
export function parseXml(text: string, maxElements = MAX_XML_ELEMENTS): XmlElement {
  return new XmlParser(text, maxElements).run(Infinity)!;
}

/**
 * parseXml for documents large enough to matter (thousands of elements): it lets other
 * requests run every few milliseconds instead of holding the event loop for the whole parse.
 */
export async function parseXmlYielding(
  text: string,
  maxElements = MAX_XML_ELEMENTS,
): Promise<XmlElement> {
  const parser = new XmlParser(text, maxElements);
  for (;;) {
    const root = parser.run(performance.now() + SLICE_MS);
    if (root) return root;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}
