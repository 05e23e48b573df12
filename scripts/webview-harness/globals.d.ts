// What the harness page adds to `window`: its configuration, its record, and the mocked VS Code API.
interface Window {
  __HARNESS_CONFIG: any;
  __harness: any;
  acquireVsCodeApi: () => unknown;
}
