/** How outputs name a tensor: the name a user knows first, the file's own beside it ("layer1.0.conv1 (onnx::Conv_38)"). */
export function layerLabel(layer: { readonly name: string; readonly displayName?: string }): string {
  return layer.displayName ? `${layer.displayName} (${layer.name})` : layer.name;
}
