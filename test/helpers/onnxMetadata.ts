export { metadataProps } from '../../src/core/formats/onnx/metadataProps';
