// Loaded by mocha before every test file (.mocharc.json).
import "../local/polyfills";
