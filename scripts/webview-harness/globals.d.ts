/* eslint-disable @typescript-eslint/no-explicit-any -- the harness's page objects are plain JavaScript */
// What the harness page adds to `window`: its configuration, its record, and the mocked VS Code API.
interface Window {
  __HARNESS_CONFIG: any;
  __harness: any;
  acquireVsCodeApi: () => unknown;
}
