import { OUT_IN_LAYOUT, type Role, type WeightLayout } from '../checkpoint';

const EMBEDDING_NAME = /(^|[._])(embed\w*|wte|wpe|embeddings?)([._]|$)/i;

/**
 * The role of a tensor in a file without a graph (safetensors, state dicts), from its name and
 * rank, following PyTorch's conventions: a 2-D `*weight` is a linear layer [out, in]; a 3-D to
 * 5-D `*weight` is a convolution [out, in/groups, *kernel]; 1-D tensors and embeddings are other.
 */
export function roleByName(name: string, shape: readonly number[]): { role: Role; layout?: WeightLayout } {
  if (!/weight$/.test(name) || EMBEDDING_NAME.test(name)) return { role: 'other' };
  if (shape.length === 2) return { role: 'linear', layout: OUT_IN_LAYOUT };
  if (shape.length >= 3 && shape.length <= 5) return { role: 'conv', layout: OUT_IN_LAYOUT };
  return { role: 'other' };
}
