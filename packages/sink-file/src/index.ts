export { fileSink } from './file-sink.js';
export { JsonlFile } from './jsonl-file.js';
