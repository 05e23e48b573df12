import { MAX_TENSOR_RANK } from '../../checkpoint';

/**
 * What the ONNX reader accepts from a model before it calls the model hostile or unreal. Each
 * bounds the memory or work a small crafted file could otherwise ask for.
 */

/** Subgraphs (If / Loop / Scan bodies) nested deeper than this are refused. */
export const MAX_GRAPH_DEPTH = 32;

/** Ranks beyond the kernels' are not real tensors; the cap bounds what a hostile `dims` list costs. */
export const MAX_RANK = MAX_TENSOR_RANK;

/**
 * Separate (unpacked) fields of one typed-data list beyond this are refused: exporters pack them
 * into one field, and each kept range costs memory.
 */
export const MAX_PAYLOAD_FIELDS = 1 << 20;

/** `external_data` key/value entries of one tensor beyond this are refused (ONNX defines four keys). */
export const MAX_EXTERNAL_DATA_ENTRIES = 64;

/** Zero points are one value per channel (or per block); more than this is not a real model. */
export const MAX_ZERO_POINTS = 1 << 24;

/** Longer chains of look-through ops between a stored weight and its consumer are not followed (real models have one to three). */
export const MAX_LOOK_THROUGH_CHAIN = 16;

/** The longest string (names, op types, attribute strings) read from a model. */
export const MAX_STRING_BYTES = 1 << 20;

/** An embedded fill value (ConstantOfShape's `value`) longer than this is not read to see whether it is all zeros. */
export const MAX_FILL_VALUE_BYTES = 64;
