// gRPC server reflection checks against a running `wirestate serve`, with
// @grpc/grpc-js (gRPC in JavaScript over Node's own HTTP/2: independent of
// grpcio's C core and of us) and npm grpc-js-reflection-client as the
// reflection client, for v1 and v1alpha: list the services and a service's
// methods, fetch a service's descriptors (with its imports) and build a
// client from them alone to make unary and server-streaming calls, a
// NOT_FOUND symbol, extension numbers of a message.
//
// Usage: node interop_grpc_reflection.cjs NODE_MODULES HOST:PORT LABEL
// One `PASS name` / `FAIL name` line per check.

const path = require("path");
const [modules, target, label] = process.argv.slice(2);
const grpc = require(path.join(modules, "@grpc/grpc-js"));
const { GrpcReflection } = require(path.join(modules, "grpc-js-reflection-client"));

const SERVED = [
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
  "grpc.testing.TestService",
  "wirestate.echo.v1.Echo",
];

let failures = 0;

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

async function check(name, fn) {
  try {
    await fn();
    console.log(`PASS ${label} ${name}`);
  } catch (e) {
    failures += 1;
    console.log(`FAIL ${label} ${name}`);
    console.log(`    ${e && e.stack ? e.stack.split("\n").slice(0, 3).join(" | ") : e}`);
  }
}

function deadline() {
  return { deadline: Date.now() + 10000 };
}

async function main() {
  for (const version of ["v1", "v1alpha"]) {
    const creds = grpc.credentials.createInsecure();
    const reflection = new GrpcReflection(target, creds, {}, version);

    await check(`${version} list services`, async () => {
      const services = (await reflection.listServices("*", deadline())).slice().sort();
      assert(
        JSON.stringify(services) === JSON.stringify(SERVED),
        `services ${JSON.stringify(services)}`,
      );
    });

    await check(`${version} list methods of wirestate.echo.v1.Echo`, async () => {
      const methods = await reflection.listMethods("wirestate.echo.v1.Echo", deadline());
      const names = methods.map((m) => m.name).sort();
      assert(
        JSON.stringify(names) === JSON.stringify(["Echo", "EchoBidi", "EchoCollect", "EchoStream"]),
        `methods ${JSON.stringify(methods)}`,
      );
    });

    await check(`${version} dynamic unary TestService/UnaryCall from reflected descriptors`, async () => {
      const descriptor = await reflection.getDescriptorBySymbol("grpc.testing.TestService", deadline());
      const pkg = descriptor.getPackageObject({ keepCase: true, longs: String, enums: String, defaults: true });
      const client = new pkg.grpc.testing.TestService(target, creds);
      const response = await new Promise((resolve, reject) =>
        client.UnaryCall({ response_size: 7 }, deadline(), (err, r) => (err ? reject(err) : resolve(r))),
      );
      client.close();
      assert(response.payload && response.payload.body.length === 7, `response ${JSON.stringify(response)}`);
    });

    await check(`${version} dynamic server-streaming Echo/EchoStream`, async () => {
      const descriptor = await reflection.getDescriptorBySymbol("wirestate.echo.v1.Echo.EchoStream", deadline());
      const pkg = descriptor.getPackageObject({ keepCase: true, defaults: true });
      const client = new pkg.wirestate.echo.v1.Echo(target, creds);
      const indices = await new Promise((resolve, reject) => {
        const got = [];
        const call = client.EchoStream({ message: "m", repeat: 3 }, deadline());
        call.on("data", (r) => got.push(r.index));
        call.on("error", reject);
        call.on("end", () => resolve(got));
      });
      client.close();
      assert(JSON.stringify(indices) === "[0,1,2]", `indices ${JSON.stringify(indices)}`);
    });

    await check(`${version} unknown symbol is NOT_FOUND`, async () => {
      let refused = null;
      try {
        await reflection.getDescriptorBySymbol("no.such.Symbol", deadline());
      } catch (e) {
        refused = e;
      }
      assert(refused && String(refused.message || refused).includes("not found"), `got ${refused}`);
    });

    await check(`${version} extension numbers of grpc.testing.Payload`, async () => {
      const r = await reflection.getAllExtensionNumbersOfType("grpc.testing.Payload", deadline());
      assert(r.base_type_name === "grpc.testing.Payload", JSON.stringify(r));
      assert(r.extension_number.length === 0, JSON.stringify(r));
    });
  }
}

main().then(
  () => process.exit(failures ? 1 : 0),
  (e) => {
    console.log(`FAIL ${label} harness: ${e}`);
    process.exit(1);
  },
);
