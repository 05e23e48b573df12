import { IN_OUT_LAYOUT, OUT_IN_LAYOUT, type Role, type WeightLayout } from '../checkpoint';

const EMBEDDING_NAME = /(^|[._])(embed\w*|wte|wpe|embeddings?)([._]|$)/i;

/**
 * Hugging Face GPT-2-style `Conv1D` weights (GPT-2, DistilGPT-2, GPT-Neo's ancestors, DialoGPT…),
 * which store [in, out], the transpose of nn.Linear: the attention's fused QKV and output
 * projections, the cross-attention's, and the MLP's two layers, under any prefix such as
 * `transformer.h.0.`.
 */
const GPT2_CONV1D_NAME =
  /(^|\.)(attn\.c_attn|attn\.c_proj|crossattention\.c_attn|crossattention\.q_attn|crossattention\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$/;

/**
 * The role of a tensor in a file without a graph (safetensors, state dicts), from its name and
 * rank, following PyTorch's conventions: a 2-D `*weight` is a linear layer [out, in]; a 3-D to
 * 5-D `*weight` is a convolution [out, in/groups, *kernel]; 1-D tensors and embeddings are other.
 * GPT-2-style Conv1D weights are linear layers stored [in, out].
 */
export function roleByName(name: string, shape: readonly number[]): { role: Role; layout?: WeightLayout } {
  if (!/weight$/.test(name) || EMBEDDING_NAME.test(name)) return { role: 'other' };
  if (shape.length === 2) return { role: 'linear', layout: GPT2_CONV1D_NAME.test(name) ? IN_OUT_LAYOUT : OUT_IN_LAYOUT };
  if (shape.length >= 3 && shape.length <= 5) return { role: 'conv', layout: OUT_IN_LAYOUT };
  return { role: 'other' };
}
