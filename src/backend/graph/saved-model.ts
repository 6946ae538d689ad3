import { createRequire } from 'node:module';
import type { NativeBinding, OpAttr } from './native.js';
import type { GraphNode, Trace } from './trace.js';

/**
 * A trace written as a SavedModel (`saved_model.pb`: one MetaGraphDef tagged "serve" holding the
 * GraphDef), the one graph format tfjs-node's binding can load and run. There are no variables:
 * everything the graph reads is fed at each run. The messages are the engine's own: tfjs-node ships
 * TensorFlow's protobuf schema, compiled for google-protobuf, to read SavedModels.
 */

// biome-ignore lint/suspicious/noExplicitAny: google-protobuf's generated classes come without types
type Proto = any;

/**
 * The GraphDef version the graphs claim to be produced by: new enough that no compatibility shim for
 * old graphs applies, old enough for every TensorFlow 2.x library tfjs-node loads (2.9.1 is 1145).
 */
const GRAPH_PRODUCER = 1000;

function shapeProto(pb: Proto, dims: number[]): Proto {
  const shape = new pb.TensorShape();
  for (const size of dims) {
    const dim = new pb.TensorShape.Dim();
    dim.setSize(size);
    shape.addDim(dim);
  }
  return shape;
}

function attrValue(pb: Proto, binding: NativeBinding, attr: OpAttr): Proto {
  const value = new pb.AttrValue();
  // an array is a list attribute, except for a shape, which is one value made of dimensions
  const list =
    Array.isArray(attr.value) && attr.type !== binding.TF_ATTR_SHAPE ? new pb.AttrValue.ListValue() : undefined;
  switch (attr.type) {
    case binding.TF_ATTR_STRING:
      value.setS(Buffer.from(String(attr.value)));
      break;
    case binding.TF_ATTR_INT:
      if (list) list.setIList(attr.value);
      else value.setI(attr.value);
      break;
    case binding.TF_ATTR_FLOAT:
      if (list) list.setFList(attr.value);
      else value.setF(attr.value);
      break;
    case binding.TF_ATTR_BOOL:
      if (list) list.setBList(attr.value);
      else value.setB(attr.value);
      break;
    case binding.TF_ATTR_TYPE:
      value.setType(attr.value);
      break;
    case binding.TF_ATTR_SHAPE:
      value.setShape(shapeProto(pb, attr.value as number[]));
      break;
    default:
      throw new Error(`attribute ${attr.name} has a type (${attr.type}) graphs do not support here`);
  }
  if (list) value.setList(list);
  return value;
}

function typeAttr(pb: Proto, dtype: number): Proto {
  const value = new pb.AttrValue();
  value.setType(dtype);
  return value;
}

function nodeProto(pb: Proto, binding: NativeBinding, node: GraphNode): Proto {
  const def = new pb.NodeDef();
  def.setName(node.name);
  def.setOp(node.op);
  for (const input of node.inputs) def.addInput(input);
  const attrs = def.getAttrMap();
  if (node.constant) {
    const tensor = new pb.Tensor();
    tensor.setDtype(node.constant.dtype);
    tensor.setTensorShape(shapeProto(pb, node.constant.shape));
    tensor.setTensorContent(node.constant.bytes);
    const value = new pb.AttrValue();
    value.setTensor(tensor);
    attrs.set('value', value);
    attrs.set('dtype', typeAttr(pb, node.constant.dtype));
  } else if (node.dtype !== undefined) {
    attrs.set('dtype', typeAttr(pb, node.dtype));
  }
  for (const attr of node.attrs) attrs.set(attr.name, attrValue(pb, binding, attr));
  return def;
}

/** The bytes of `saved_model.pb` for a trace. */
export function savedModelBytes(trace: Trace, binding: NativeBinding, nativeEntryFile: string): Uint8Array {
  const pb: Proto = createRequire(nativeEntryFile)('./proto/api_pb.js');
  const graph = new pb.GraphDef();
  const versions = new pb.VersionDef();
  versions.setProducer(GRAPH_PRODUCER);
  graph.setVersions(versions);
  for (const node of trace.nodes) graph.addNode(nodeProto(pb, binding, node));
  const info = new pb.MetaGraphDef.MetaInfoDef();
  info.addTags('serve');
  const metaGraph = new pb.MetaGraphDef();
  metaGraph.setMetaInfoDef(info);
  metaGraph.setGraphDef(graph);
  const model = new pb.SavedModel();
  model.setSavedModelSchemaVersion(1);
  model.addMetaGraphs(metaGraph);
  return model.serializeBinary();
}
