import { expect } from "chai";
import { Metadata } from "@grpc/grpc-js";
import { BrokerError, ERROR_REASONS, ErrorCode, ErrorReason, REASON_CODES } from "../../src/broker/errors.js";
import { grpcCodeOf, grpcStatusOf, httpErrorOf, httpStatusOfCode, legacyErrorOf, STATUS_DETAILS_KEY } from "../../src/api/status.js";
import { reasonFromTrailers, Reason } from "../../src/client/errors.js";
import { ErrorReason as ProtoErrorReason } from "../../src/gen/gmq/v1/broker.js";
import { decodeStatusDetails, readmeErrorTables } from "../helpers/error-table.js";

const tables = readmeErrorTables();
const silent = { error() {} };
const call = { method: "POST", route: "/v1/test" };

describe("the error table (README, proto, status mapping)", () => {
  it("lists every code the node sends, with its gRPC status and HTTP status", () => {
    expect([...tables.codes.keys()].sort()).to.deep.equal(Object.values(ErrorCode).sort());
    for (const [code, row] of tables.codes) {
      expect(grpcCodeOf(code as ErrorCode), code).to.equal(row.grpc);
      expect(httpStatusOfCode(code as ErrorCode), code).to.equal(row.http);
    }
  });

  it("lists every reason, in the proto's ErrorReason and the SDK's Reason alike", () => {
    expect([...tables.reasons.keys()]).to.deep.equal(ERROR_REASONS);
    const proto = Object.keys(ProtoErrorReason)
      .filter((k) => k.startsWith("ERROR_REASON_") && k !== "ERROR_REASON_UNSPECIFIED")
      .map((k) => k.slice("ERROR_REASON_".length));
    expect(proto).to.deep.equal(ERROR_REASONS);
    expect(Object.keys(Reason)).to.deep.equal(ERROR_REASONS);
  });

  for (const reason of ERROR_REASONS) {
    it(`maps ${reason} as the README says, over gRPC, the gateway and the original API`, () => {
      const row = tables.reasons.get(reason)!;
      expect(row.code).to.equal(REASON_CODES[reason]);
      expect(row.meaning).not.to.equal("");
      const codeRow = tables.codes.get(row.code)!;
      const err = new BrokerError(reason, "what went wrong");

      const st = grpcStatusOf(err, silent, "gmq.v1.BrokerService/Test");
      expect(st.code).to.equal(codeRow.grpc);
      expect(st.details).to.equal("what went wrong");
      const bin = st.metadata.get(STATUS_DETAILS_KEY)[0] as Buffer;
      expect(decodeStatusDetails(bin)).to.deep.equal({
        code: codeRow.grpc,
        message: "what went wrong",
        details: [{ typeUrl: "type.googleapis.com/google.rpc.ErrorInfo", reason, domain: "gmq.v1", metadata: {} }],
      });
      expect(reasonFromTrailers(st.metadata)).to.equal(reason);

      const http = httpErrorOf(err, silent, call);
      expect(http.status).to.equal(row.http);
      expect(http.body).to.include({ code: row.code, reason, message: "what went wrong" });

      // The original API answers 200 unless the HTTP layer itself refused the request.
      const legacy = legacyErrorOf(err, silent, call);
      expect(legacy.status).to.equal(row.http === codeRow.http ? 200 : row.http);
      expect(legacy.body).to.deep.equal({ code: 1, data: null, msg: "what went wrong", error: row.code, reason });
    });
  }

  it("only the HTTP layer's own refusals differ from their code's HTTP status", () => {
    const exceptions = [...tables.reasons].filter(([, r]) => r.http !== tables.codes.get(r.code)!.http).map(([name]) => name);
    expect(exceptions).to.deep.equal([ErrorReason.METHOD_NOT_ALLOWED, ErrorReason.UNSUPPORTED_CONTENT_TYPE, ErrorReason.REQUEST_TOO_LARGE]);
  });

  it("sends ErrorInfo metadata (Allow) and turns it into the Allow header on 405", () => {
    const err = new BrokerError(ErrorReason.METHOD_NOT_ALLOWED, "no", { metadata: { allow: "GET, PUT" } });
    const info = decodeStatusDetails(grpcStatusOf(err, silent, "x").metadata.get(STATUS_DETAILS_KEY)[0] as Buffer).details[0];
    expect(info?.metadata).to.deep.equal({ allow: "GET, PUT" });
    expect(httpErrorOf(err, silent, call).headers).to.deep.equal({ allow: "GET, PUT" });
  });

  it("answers anything but a BrokerError as INTERNAL_ERROR, logging the cause with the call's method and route", () => {
    const logged: object[] = [];
    const log = { error: (obj: object) => logged.push(obj) };
    const cause = new Error("secret detail at /data/x.seg");
    const http = httpErrorOf(cause, log, { method: "PUT", route: "/v1/topics/{topic}/config" });
    expect(http.status).to.equal(500);
    expect(http.body).to.include({ code: "INTERNAL", reason: "INTERNAL_ERROR" });
    expect(JSON.stringify(http.body)).not.to.include("secret");
    const st = grpcStatusOf(cause, log, "gmq.v1.BrokerService/Push");
    expect(st.details).not.to.include("secret");
    expect(logged).to.deep.equal([
      { err: cause, method: "PUT", route: "/v1/topics/{topic}/config" },
      { err: cause, method: "grpc", route: "gmq.v1.BrokerService/Push" },
    ]);
  });

  it("reads no reason from a trailer of another domain or none", () => {
    expect(reasonFromTrailers(new Metadata())).to.equal("");
    expect(reasonFromTrailers(undefined)).to.equal("");
  });
});
