/**
 * Bucket CORS rules in-process: PutBucketCors documents parsed with AWS's schema, limits and
 * errors, rendered back for GetBucketCors, and requests matched against the rules (first match
 * wins; one wildcard per origin or header pattern; header names ignore case).
 */

import {
  type CorsConfiguration,
  matchCorsRule,
  MAX_CORS_RULES,
  MAX_REQUESTED_HEADERS,
  parseCorsConfiguration,
  renderCorsConfiguration,
} from "../src/bucket/cors.ts";
import { S3Error } from "../src/s3/errors.ts";
import { parseXml, renderXml } from "../src/s3/xml.ts";
import { assertEquals, assertThrows } from "./helpers/assert.ts";

const parse = (rules: string) =>
  parseCorsConfiguration(parseXml(`<CORSConfiguration>${rules}</CORSConfiguration>`));

function refused(rules: string, code: string, message?: string): void {
  const err = assertThrows(() => parse(rules), S3Error);
  assertEquals(err.code, code, err.message);
  if (message !== undefined) assertEquals(err.message, message);
}

const RULE = "<AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin>";

Deno.test("cors config: a full rule parses and renders back in AWS's element order", () => {
  const config = parse(`<CORSRule>
      <ID>web</ID>
      <AllowedOrigin>https://app.example.com</AllowedOrigin>
      <AllowedOrigin>http://*.example.com</AllowedOrigin>
      <AllowedMethod>PUT</AllowedMethod>
      <AllowedMethod>GET</AllowedMethod>
      <AllowedHeader>x-amz-*</AllowedHeader>
      <AllowedHeader>Content-Type</AllowedHeader>
      <ExposeHeader>ETag</ExposeHeader>
      <MaxAgeSeconds>3000</MaxAgeSeconds>
    </CORSRule><CORSRule>${RULE}</CORSRule>`);
  assertEquals(config, {
    rules: [{
      id: "web",
      allowedMethods: ["PUT", "GET"],
      allowedOrigins: ["https://app.example.com", "http://*.example.com"],
      allowedHeaders: ["x-amz-*", "Content-Type"],
      exposeHeaders: ["ETag"],
      maxAgeSeconds: 3000,
    }, {
      allowedMethods: ["GET"],
      allowedOrigins: ["*"],
      allowedHeaders: [],
      exposeHeaders: [],
    }],
  });
  const xml = renderXml("CORSConfiguration", renderCorsConfiguration(config));
  assertEquals(
    xml.split("<CORSRule>")[1],
    "<ID>web</ID><AllowedHeader>x-amz-*</AllowedHeader><AllowedHeader>Content-Type</AllowedHeader>" +
      "<AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod>" +
      "<AllowedOrigin>https://app.example.com</AllowedOrigin>" +
      "<AllowedOrigin>http://*.example.com</AllowedOrigin><ExposeHeader>ETag</ExposeHeader>" +
      "<MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>",
  );
  assertEquals(parseCorsConfiguration(parseXml(xml)), config);
});

Deno.test("cors config: AWS's errors for rules outside the schema and limits", () => {
  refused("", "MalformedXML");
  refused("<CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>", "MalformedXML");
  refused("<CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule>", "MalformedXML");
  refused(`<CORSRule>${RULE}<Bogus/></CORSRule>`, "MalformedXML");
  refused(`<CORSRule>${RULE}</CORSRule><Other/>`, "MalformedXML");
  refused(`<CORSRule>${RULE}<ID>a</ID><ID>b</ID></CORSRule>`, "MalformedXML");
  for (const age of ["-1", "1.5", "ten", "", "99999999999"]) {
    refused(`<CORSRule>${RULE}<MaxAgeSeconds>${age}</MaxAgeSeconds></CORSRule>`, "MalformedXML");
  }
  refused(
    "<CORSRule><AllowedMethod>PATCH</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule>",
    "InvalidRequest",
    "Found unsupported HTTP method in CORS config. Unsupported method is PATCH",
  );
  // Methods are case-sensitive, as in AWS.
  refused(
    "<CORSRule><AllowedMethod>get</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule>",
    "InvalidRequest",
  );
  refused(
    "<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>http://*.*.a.com</AllowedOrigin></CORSRule>",
    "InvalidRequest",
    'AllowedOrigin "http://*.*.a.com" can not have more than one wildcard.',
  );
  refused(
    `<CORSRule>${RULE}<AllowedHeader>x-*-*</AllowedHeader></CORSRule>`,
    "InvalidRequest",
    'AllowedHeader "x-*-*" can not have more than one wildcard.',
  );
  refused(`<CORSRule>${RULE}<ExposeHeader>x-amz-*</ExposeHeader></CORSRule>`, "InvalidRequest");
  refused(`<CORSRule>${RULE}<ID>${"i".repeat(256)}</ID></CORSRule>`, "InvalidArgument");
  parse(`<CORSRule>${RULE}<ID>${"i".repeat(255)}</ID></CORSRule>`);

  const rules = (n: number) => `<CORSRule>${RULE}</CORSRule>`.repeat(n);
  assertEquals(parse(rules(MAX_CORS_RULES)).rules.length, MAX_CORS_RULES);
  refused(rules(MAX_CORS_RULES + 1), "MalformedXML");
});

Deno.test("cors config: an empty AllowedOrigin is accepted (AWS stores it) and matches nothing real", () => {
  const config = parse(
    "<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin></AllowedOrigin></CORSRule>",
  );
  assertEquals(config.rules[0].allowedOrigins, [""]);
  assertEquals(
    matchCorsRule(config, { origin: "http://a.com", method: "GET", headers: [] }),
    undefined,
  );
});

Deno.test("cors match: origin, method and every requested header; the first rule wins", () => {
  const config: CorsConfiguration = parse(`
    <CORSRule><ID>exact</ID><AllowedMethod>PUT</AllowedMethod>
      <AllowedOrigin>https://app.example.com</AllowedOrigin>
      <AllowedHeader>Content-Type</AllowedHeader><AllowedHeader>x-amz-*</AllowedHeader></CORSRule>
    <CORSRule><ID>sub</ID><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>
      <AllowedOrigin>http://*.example.com</AllowedOrigin></CORSRule>
    <CORSRule><ID>any</ID><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin>
      <AllowedHeader>*</AllowedHeader></CORSRule>`);
  const id = (origin: string, method: string, headers: string[] = []) =>
    matchCorsRule(config, { origin, method, headers })?.id;

  assertEquals(id("https://app.example.com", "PUT"), "exact");
  assertEquals(id("https://app.example.com", "PUT", ["content-type", "x-amz-meta-a"]), "exact");
  // A header outside the first rule's list: no other rule allows PUT from that origin.
  assertEquals(id("https://app.example.com", "PUT", ["x-custom"]), undefined);
  assertEquals(id("https://app.example.com", "GET"), "any");
  assertEquals(id("http://www.example.com", "PUT"), "sub");
  assertEquals(id("http://a.b.example.com", "GET"), "sub");
  // The wildcard does not swallow the scheme or the suffix.
  assertEquals(id("https://www.example.com", "PUT"), undefined);
  assertEquals(id("http://www.example.com.evil.net", "PUT"), undefined);
  // "sub" allows no requested headers; "any" allows every header.
  assertEquals(id("http://www.example.com", "GET", ["x-anything"]), "any");
  assertEquals(id("http://elsewhere.net", "DELETE"), undefined);
  assertEquals(id("http://elsewhere.net", "OPTIONS"), undefined);
  // Origins compare exactly.
  assertEquals(id("https://APP.example.com", "PUT"), undefined);
});

Deno.test("cors match: a preflight asking for more than 100 headers is allowed by no rule", () => {
  const config = parse(`<CORSRule>${RULE}<AllowedHeader>*</AllowedHeader></CORSRule>`);
  const names = (n: number) => Array.from({ length: n }, (_, i) => `x-h${i}`);
  const match = (n: number) =>
    matchCorsRule(config, { origin: "http://a.com", method: "GET", headers: names(n) });
  assertEquals(match(MAX_REQUESTED_HEADERS)?.allowedOrigins, ["*"]);
  assertEquals(match(MAX_REQUESTED_HEADERS + 1), undefined);
});
