// Stands in for `semver` in the Lambda bundles (an esbuild alias, infra/constructs/threadbound-function.ts).
// Its one user there is aws-xray-sdk-core's patcher of the AWS SDK v2 (`captureAWS`), which requires it
// when the X-Ray SDK loads and only calls it to check the v2 SDK's version; threadbound uses the v3
// SDK and its capture (`captureAWSv3Client`) only, so the 29 KB of semver were dead weight at every
// cold start. Should anything ever call it, it fails loudly instead of answering wrongly.

/** Never called in a threadbound bundle: semver is not bundled (see the file's comment). */
export function gte(): never {
  throw new Error('semver is not bundled: the AWS SDK v2 X-Ray patcher (captureAWS) is not supported');
}
