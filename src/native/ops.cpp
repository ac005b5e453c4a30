// One generic entry point for every ATen operator, the way TorchScript's interpreter calls them:
// JS resolves an operator by name and overload once (`resolveOp`), then calls it with positional
// arguments (`callOp`) that are converted to IValues by the types in the operator's schema. This
// keeps the binding thin: new ops need no C++ — the TypeScript layer names them.
#include "handles.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/function_schema.h>
#include <ATen/core/jit_type.h>
#include <ATen/core/stack.h>

#include <cmath>
#include <vector>

namespace distillery {
namespace {

std::vector<c10::OperatorHandle> gOps;

[[noreturn]] void argError(Napi::Env env, const c10::FunctionSchema& schema, const c10::Argument& arg,
                           const std::string& expected) {
  throw Napi::TypeError::New(env, schema.name() + (schema.overload_name().empty() ? "" : "." + schema.overload_name()) +
                                      ": argument '" + arg.name() + "' must be " + expected);
}

int64_t toInt(Napi::Env env, const Napi::Value& v, const c10::FunctionSchema& s, const c10::Argument& a) {
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1 : 0;
  if (!v.IsNumber()) argError(env, s, a, "an integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (std::trunc(d) != d) argError(env, s, a, "an integer, got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

c10::IValue toIValue(Napi::Env env, const Napi::Value& v, const c10::TypePtr& type, const c10::FunctionSchema& s,
                     const c10::Argument& a);

c10::IValue toList(Napi::Env env, const Napi::Value& v, const c10::TypePtr& elem, const c10::FunctionSchema& s,
                   const c10::Argument& a) {
  // int[N] arguments accept a bare integer (e.g. dim=1 for dim=[1]), as in Python.
  if (!v.IsArray()) {
    if (elem->kind() == c10::TypeKind::IntType || elem->kind() == c10::TypeKind::SymIntType)
      return c10::IValue(std::vector<int64_t>{toInt(env, v, s, a)});
    argError(env, s, a, "an array");
  }
  auto arr = v.As<Napi::Array>();
  const uint32_t n = arr.Length();
  switch (elem->kind()) {
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType: {
      std::vector<int64_t> out(n);
      for (uint32_t i = 0; i < n; i++) out[i] = toInt(env, arr.Get(i), s, a);
      return c10::IValue(out);
    }
    case c10::TypeKind::FloatType: {
      std::vector<double> out(n);
      for (uint32_t i = 0; i < n; i++) out[i] = arr.Get(i).ToNumber().DoubleValue();
      return c10::IValue(out);
    }
    case c10::TypeKind::BoolType: {
      c10::List<bool> out;
      for (uint32_t i = 0; i < n; i++) out.push_back(arr.Get(i).ToBoolean().Value());
      return c10::IValue(out);
    }
    case c10::TypeKind::TensorType: {
      c10::List<at::Tensor> out;
      out.reserve(n);
      for (uint32_t i = 0; i < n; i++) out.push_back(unwrapTensor(arr.Get(i), a.name().c_str()));
      return c10::IValue(out);
    }
    case c10::TypeKind::OptionalType: {
      if (elem->castRaw<c10::OptionalType>()->getElementType()->kind() == c10::TypeKind::TensorType) {
        c10::List<c10::optional<at::Tensor>> out;
        for (uint32_t i = 0; i < n; i++) {
          Napi::Value x = arr.Get(i);
          if (x.IsNull() || x.IsUndefined()) out.push_back(c10::nullopt);
          else out.push_back(unwrapTensor(x, a.name().c_str()));
        }
        return c10::IValue(out);
      }
      break;
    }
    default:
      break;
  }
  argError(env, s, a, "a list of a type the binding supports (" + elem->str() + "[] is not)");
}

c10::IValue toIValue(Napi::Env env, const Napi::Value& v, const c10::TypePtr& type, const c10::FunctionSchema& s,
                     const c10::Argument& a) {
  switch (type->kind()) {
    case c10::TypeKind::OptionalType:
      if (v.IsUndefined() || v.IsNull()) return c10::IValue();
      return toIValue(env, v, type->castRaw<c10::OptionalType>()->getElementType(), s, a);
    case c10::TypeKind::TensorType:
      return c10::IValue(unwrapTensor(v, a.name().c_str()));
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType:
      return c10::IValue(toInt(env, v, s, a));
    case c10::TypeKind::FloatType:
      if (!v.IsNumber()) argError(env, s, a, "a number");
      return c10::IValue(v.As<Napi::Number>().DoubleValue());
    case c10::TypeKind::BoolType:
      if (!v.IsBoolean()) argError(env, s, a, "a boolean");
      return c10::IValue(v.As<Napi::Boolean>().Value());
    case c10::TypeKind::NumberType: {  // a Scalar: integral JS numbers stay integral, as literals do in Python
      if (v.IsBoolean()) return c10::IValue(v.As<Napi::Boolean>().Value());
      if (!v.IsNumber()) argError(env, s, a, "a number");
      double d = v.As<Napi::Number>().DoubleValue();
      if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 9007199254740992.0)
        return c10::IValue(static_cast<int64_t>(d));
      return c10::IValue(d);
    }
    case c10::TypeKind::StringType:
      if (!v.IsString()) argError(env, s, a, "a string");
      return c10::IValue(v.As<Napi::String>().Utf8Value());
    case c10::TypeKind::DeviceObjType:
      if (!v.IsString()) argError(env, s, a, "a device string such as 'cpu' or 'cuda:0'");
      return c10::IValue(c10::Device(v.As<Napi::String>().Utf8Value()));
    case c10::TypeKind::GeneratorType:
      return c10::IValue(unwrapGenerator(v, a.name().c_str()));
    case c10::TypeKind::ListType:
      return toList(env, v, type->castRaw<c10::ListType>()->getElementType(), s, a);
    default:
      argError(env, s, a, "of a type the binding supports (" + type->str() + " is not)");
  }
}

Napi::Value fromIValue(Napi::Env env, const c10::IValue& v) {
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    return t.defined() ? wrapTensor(env, t) : env.Null();
  }
  if (v.isNone()) return env.Null();
  if (v.isInt()) return Napi::Number::New(env, static_cast<double>(v.toInt()));
  if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
  if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
  if (v.isString()) return Napi::String::New(env, v.toStringRef());
  if (v.isTensorList()) {
    auto list = v.toTensorList();
    auto out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); i++) out.Set(i, wrapTensor(env, list.get(i)));
    return out;
  }
  if (v.isIntList()) {
    auto list = v.toIntList();
    auto out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); i++) out.Set(i, Napi::Number::New(env, static_cast<double>(list.get(i))));
    return out;
  }
  if (v.isTuple()) {
    const auto& elems = v.toTupleRef().elements();
    auto out = Napi::Array::New(env, elems.size());
    for (size_t i = 0; i < elems.size(); i++) out.Set(i, fromIValue(env, elems[i]));
    return out;
  }
  if (v.isList()) {
    auto list = v.toListRef();
    auto out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); i++) out.Set(i, fromIValue(env, list[i]));
    return out;
  }
  throw Napi::Error::New(env, std::string("operator returned a value of unsupported kind ") + v.tagKind());
}

// resolveOp(name, overload) -> { id, schema, arguments: [{ name, type, hasDefault, kwargOnly }] } or null.
Napi::Value ResolveOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::string overload = info[1].As<Napi::String>().Utf8Value();
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  if (!handle.has_value()) return env.Null();
  gOps.push_back(*handle);
  const c10::FunctionSchema& schema = handle->schema();
  auto args = Napi::Array::New(env, schema.arguments().size());
  for (size_t i = 0; i < schema.arguments().size(); i++) {
    const auto& a = schema.arguments()[i];
    auto o = Napi::Object::New(env);
    o.Set("name", a.name());
    o.Set("type", a.type()->str());
    o.Set("hasDefault", a.default_value().has_value());
    o.Set("kwargOnly", a.kwarg_only());
    args.Set(i, o);
  }
  auto out = Napi::Object::New(env);
  out.Set("id", static_cast<double>(gOps.size() - 1));
  out.Set("schema", c10::toString(schema));
  out.Set("arguments", args);
  out.Set("returns", static_cast<double>(schema.returns().size()));
  return out;
}

// callOp(id, args[]) calls the operator; `undefined` (or a short array) takes the schema default.
// Returns the single result, or an array when the operator returns several.
Napi::Value CallOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  if (id >= gOps.size()) throw Napi::RangeError::New(env, "callOp: unknown operator id");
  const c10::OperatorHandle& op = gOps[id];
  const c10::FunctionSchema& schema = op.schema();
  auto jsArgs = info[1].As<Napi::Array>();
  const auto& formals = schema.arguments();
  if (jsArgs.Length() > formals.size())
    throw Napi::TypeError::New(env, schema.name() + ": takes " + std::to_string(formals.size()) + " arguments, got " +
                                        std::to_string(jsArgs.Length()));
  torch::jit::Stack stack;
  stack.reserve(formals.size());
  for (size_t i = 0; i < formals.size(); i++) {
    Napi::Value v = i < jsArgs.Length() ? jsArgs.Get(i) : env.Undefined();
    if (v.IsUndefined()) {
      if (formals[i].default_value().has_value()) {
        stack.push_back(*formals[i].default_value());
        continue;
      }
      if (formals[i].type()->kind() != c10::TypeKind::OptionalType) argError(env, schema, formals[i], "given");
    }
    stack.push_back(toIValue(env, v, formals[i].type(), schema, formals[i]));
  }
  op.callBoxed(&stack);
  if (stack.size() == 1) return fromIValue(env, stack[0]);
  auto out = Napi::Array::New(env, stack.size());
  for (size_t i = 0; i < stack.size(); i++) out.Set(i, fromIValue(env, stack[i]));
  return out;
}

}  // namespace

void registerOps(Napi::Env env, Napi::Object exports) {
  exports.Set("resolveOp", guardedFunction(env, ResolveOp));
  exports.Set("callOp", guardedFunction(env, CallOp));
}

}  // namespace distillery
