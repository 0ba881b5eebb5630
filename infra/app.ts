// Entry point of the CDK app (cdk.json "app"): build the tree, then synthesize it. The tree is
// built by buildApp so tests get the same app without this file's side effect.
import { buildApp } from './stacks/build-app.js';

const { app } = buildApp();
app.synth();
