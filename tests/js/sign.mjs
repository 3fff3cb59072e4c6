// Test oracle for tests/test_signing_peers.py: signs with the AWS SDK for JavaScript v3
// (@aws-sdk/cloudfront-signer) the way its users do, so one node process serves a whole batch.
//
// stdin:  {"privateKey": "<PEM>", "keyPairId": "K...", "requests": [
//            {"kind": "cookies" | "url", "url": "https://...", "expires": <epoch seconds>,
//             "notBefore": <epoch seconds>?, "ipAddress": "a.b.c.d[/n]"?,
//             "algorithm": "SHA1" | "SHA256"?}, ...]}
// stdout: a JSON list with one {"result": <cookies object or signed URL>} or {"error": "<message>"}
//         per request, in order.
import { readFileSync } from "node:fs";
import { getSignedCookies, getSignedUrl } from "@aws-sdk/cloudfront-signer";

const SIGNERS = { cookies: getSignedCookies, url: getSignedUrl };

// The SDK reads a number as milliseconds (new Date(n)); a Date says what we mean.
const toDate = (seconds) => (seconds == null ? undefined : new Date(seconds * 1000));

function sign({ privateKey, keyPairId }, request) {
  const signer = SIGNERS[request.kind];
  if (!signer) {
    throw new Error(`unknown request kind ${JSON.stringify(request.kind)}`);
  }
  return signer({
    url: request.url,
    keyPairId,
    privateKey,
    dateLessThan: toDate(request.expires),
    dateGreaterThan: toDate(request.notBefore),
    ipAddress: request.ipAddress ?? undefined,
    algorithm: request.algorithm ?? undefined,
  });
}

const batch = JSON.parse(readFileSync(0, "utf8"));
const results = batch.requests.map((request) => {
  try {
    return { result: sign(batch, request) };
  } catch (error) {
    return { error: String(error?.message ?? error) };
  }
});
process.stdout.write(JSON.stringify(results));
