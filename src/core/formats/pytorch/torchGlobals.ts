import { itemSize, type DType } from '../../dtype';
import { describeValue, PyClass, PyFunction, PyObject } from './pickle/values';

/**
 * The torch globals a checkpoint pickle may use, as data: storage classes, dtypes, qschemes,
 * Size, device and the tensor rebuild functions (the allowlist of torch._weights_only_unpickler).
 * Rebuild functions return `TorchTensor` records; nothing is allocated or read here.
 */

/** A storage class (`torch.FloatStorage` …) referenced in a persistent id. */
export class StorageType {
  constructor(
    readonly name: string,
    /** Element type of the stored bytes; undefined for packed quantized types we cannot decode. */
    readonly dtype: DType | undefined,
    /** Set for quantized storages (QInt8Storage …): the elements are integers around a zero point. */
    readonly quantized?: string,
  ) {}
}

/** Bytes per element of a storage: its dtype's, or 1 for packed types counted in bytes. */
export function storageItemSize(type: StorageType): number {
  return type.dtype === undefined ? 1 : itemSize(type.dtype);
}

/** A torch dtype global (`torch.float32` …). */
export class TorchDType {
  constructor(
    readonly name: string,
    readonly dtype: DType | undefined,
    readonly quantized?: string,
  ) {}
}

export class TorchQScheme {
  constructor(readonly name: string) {}
}

/** A storage as a persistent id names it: torch keeps the bytes in a separate record. */
export interface StorageRef {
  readonly key: string;
  readonly type: StorageType;
  /** Elements of `type` (bytes for UntypedStorage). */
  readonly numel: number;
  readonly location: string;
  /** Legacy format: a view into the root storage, in elements of the root's type. */
  readonly view?: { readonly key: string; readonly offset: number; readonly numel: number };
}

export type Quantization =
  | { readonly scheme: 'per_tensor'; readonly scale: number; readonly zeroPoint: number }
  | { readonly scheme: 'per_channel'; readonly scales: unknown; readonly zeroPoints: unknown; readonly axis: number };

/**
 * A tensor as its rebuild call describes it. The fields are the pickle's arguments, not yet
 * validated: the reader checks them when it resolves the tensor, with its name at hand.
 */
export class TorchTensor {
  constructor(
    readonly storage: unknown,
    readonly storageOffset: unknown,
    readonly size: unknown,
    readonly stride: unknown,
    /** `_rebuild_tensor_v3` passes the dtype apart from an UntypedStorage. */
    readonly dtype?: TorchDType,
    readonly quantization?: Quantization,
    readonly rebuiltBy = '_rebuild_tensor_v2',
  ) {}
}

const STORAGE_DTYPES: Readonly<Record<string, DType | undefined>> = {
  DoubleStorage: 'float64',
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  ComplexFloatStorage: 'complex64',
  ComplexDoubleStorage: 'complex128',
  UntypedStorage: 'uint8',
  QInt8Storage: 'int8',
  QUInt8Storage: 'uint8',
  QInt32Storage: 'int32',
  QUInt4x2Storage: undefined,
  QUInt2x4Storage: undefined,
};
const QUANTIZED_STORAGES: Readonly<Record<string, string>> = {
  QInt8Storage: 'qint8',
  QUInt8Storage: 'quint8',
  QInt32Storage: 'qint32',
  QUInt4x2Storage: 'quint4x2',
  QUInt2x4Storage: 'quint2x4',
};

const TORCH_DTYPES: Readonly<Record<string, DType>> = {
  float32: 'float32',
  float: 'float32',
  float64: 'float64',
  double: 'float64',
  float16: 'float16',
  half: 'float16',
  bfloat16: 'bfloat16',
  float8_e4m3fn: 'float8_e4m3fn',
  float8_e5m2: 'float8_e5m2',
  float8_e4m3fnuz: 'float8_e4m3fnuz',
  float8_e5m2fnuz: 'float8_e5m2fnuz',
  float8_e8m0fnu: 'float8_e8m0',
  complex64: 'complex64',
  cfloat: 'complex64',
  complex128: 'complex128',
  cdouble: 'complex128',
  int8: 'int8',
  uint8: 'uint8',
  int16: 'int16',
  short: 'int16',
  uint16: 'uint16',
  int32: 'int32',
  int: 'int32',
  uint32: 'uint32',
  int64: 'int64',
  long: 'int64',
  uint64: 'uint64',
  bool: 'bool',
};
const QUANTIZED_DTYPES: Readonly<Record<string, DType | undefined>> = {
  qint8: 'int8',
  quint8: 'uint8',
  qint32: 'int32',
  quint4x2: undefined,
  quint2x4: undefined,
};
const QSCHEMES = new Set([
  'per_tensor_affine',
  'per_channel_affine',
  'per_channel_affine_float_qparams',
  'per_tensor_symmetric',
  'per_channel_symmetric',
]);

/** torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]). */
const rebuildTensorV2 = new PyFunction(
  'torch._utils._rebuild_tensor_v2',
  ([storage, offset, size, stride]) => new TorchTensor(storage, offset, size, stride),
);
/** torch._utils._rebuild_tensor(storage, offset, size, stride): before v2. */
const rebuildTensor = new PyFunction(
  'torch._utils._rebuild_tensor',
  ([storage, offset, size, stride]) => new TorchTensor(storage, offset, size, stride),
);
/**
 * _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype[, metadata]).
 * The dtype says how to read the UntypedStorage's bytes: one we do not know (a newer torch's
 * float4 …) keeps its name and no element type, so the tensor is listed as not analysed.
 */
const rebuildTensorV3 = new PyFunction('torch._utils._rebuild_tensor_v3', ([storage, offset, size, stride, , , dtype]) => {
  const known =
    dtype instanceof TorchDType
      ? dtype
      : new TorchDType(dtype instanceof PyClass ? dtype.qualifiedName : describeValue(dtype, 40), undefined);
  return new TorchTensor(storage, offset, size, stride, known, undefined, '_rebuild_tensor_v3');
});
/** _rebuild_qtensor(storage, offset, size, stride, quantizer_params, requires_grad, hooks). */
const rebuildQTensor = new PyFunction('torch._utils._rebuild_qtensor', ([storage, offset, size, stride, params]) => {
  return new TorchTensor(storage, offset, size, stride, undefined, quantizationOf(params), '_rebuild_qtensor');
});
/** Parameters wrap a tensor: _rebuild_parameter(data, requires_grad, hooks[, state]). */
const rebuildParameter = new PyFunction('torch._utils._rebuild_parameter', ([data]) => data);
const rebuildParameterWithState = new PyFunction('torch._utils._rebuild_parameter_with_state', ([data]) => data);
/**
 * torch._tensor._rebuild_from_type_v2(func, new_type, args, state): calls func(*args) when func
 * is allowlisted; otherwise an inert record of the call, which is listed as a tensor not read.
 */
const REBUILD_FROM_TYPE = new PyClass('torch._tensor', '_rebuild_from_type_v2');
const rebuildFromTypeV2 = new PyFunction('torch._tensor._rebuild_from_type_v2', (args) => {
  const [func, , funcArgs] = args;
  return func instanceof PyFunction && Array.isArray(funcArgs) ? func.call(funcArgs) : new PyObject(REBUILD_FROM_TYPE, args);
});
const size = new PyFunction('torch.Size', ([dims]) => (Array.isArray(dims) ? [...dims] : []));
const device = new PyFunction('torch.device', (args) => args.map((a) => describeValue(a, 40)).join(':'));

function quantizationOf(params: unknown): Quantization | undefined {
  if (!Array.isArray(params) || !(params[0] instanceof TorchQScheme)) return undefined;
  const scheme = params[0].name;
  if (scheme === 'per_tensor_affine' || scheme === 'per_tensor_symmetric') {
    const [, scale, zeroPoint] = params;
    if (typeof scale !== 'number' || typeof zeroPoint !== 'number') return undefined;
    return { scheme: 'per_tensor', scale, zeroPoint };
  }
  const [, scales, zeroPoints, axis] = params;
  if (typeof axis !== 'number') return undefined;
  return { scheme: 'per_channel', scales, zeroPoints, axis };
}

/** Resolves the torch globals of the allowlist; undefined for anything else. */
export function resolveTorchGlobal(module: string, name: string): unknown {
  if (module === 'torch' || module === 'torch.cuda') {
    if (Object.prototype.hasOwnProperty.call(STORAGE_DTYPES, name))
      return new StorageType(name, STORAGE_DTYPES[name], QUANTIZED_STORAGES[name]);
  }
  if (module === 'torch') {
    if (Object.prototype.hasOwnProperty.call(TORCH_DTYPES, name)) return new TorchDType(name, TORCH_DTYPES[name]);
    if (Object.prototype.hasOwnProperty.call(QUANTIZED_DTYPES, name)) return new TorchDType(name, QUANTIZED_DTYPES[name], name);
    if (QSCHEMES.has(name)) return new TorchQScheme(name);
    if (name === 'Size') return size;
    if (name === 'device') return device;
  }
  if (module === 'torch._utils') {
    switch (name) {
      case '_rebuild_tensor':
        return rebuildTensor;
      case '_rebuild_tensor_v2':
        return rebuildTensorV2;
      case '_rebuild_tensor_v3':
        return rebuildTensorV3;
      case '_rebuild_qtensor':
        return rebuildQTensor;
      case '_rebuild_parameter':
        return rebuildParameter;
      case '_rebuild_parameter_with_state':
        return rebuildParameterWithState;
    }
  }
  if (module === 'torch._tensor' && name === '_rebuild_from_type_v2') return rebuildFromTypeV2;
  if (module === 'torch.jit._pickle') {
    // TorchScript archives wrap typed lists: build_intlist([...]), restore_type_tag(value, 'List[int]').
    if (/^build_(int|double|bool|tensor)list$/.test(name))
      return new PyFunction(`${module}.${name}`, ([items]) => (Array.isArray(items) ? items : []));
    if (name === 'restore_type_tag') return new PyFunction(`${module}.${name}`, ([value]) => value);
  }
  return undefined;
}
