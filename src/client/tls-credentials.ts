// Channel credentials for TLS that connect to an IP address without naming
// it as the TLS server name: grpc-js's own credentials always set
// `servername` to the target host, and for 127.0.0.1 Node then warns
// (DEP0123; RFC 6066 forbids IP addresses in SNI). Here a host name is still
// sent as the server name; an IP address is checked against the
// certificate's IP SANs, as Node does for `host` without `servername`.
import { isIP, type Socket } from "node:net";
import { connect as tlsConnect, type SecureContext } from "node:tls";
import { CallCredentials, ChannelCredentials, type ChannelOptions, experimental } from "@grpc/grpc-js";

class SniSafeChannelCredentials extends ChannelCredentials {
  constructor(private readonly context: SecureContext) {
    super();
  }

  override _isSecure(): boolean {
    return true;
  }

  override _equals(other: ChannelCredentials): boolean {
    return other === this;
  }

  override _createSecureConnector(target: experimental.GrpcUri, _options: ChannelOptions, callCredentials?: CallCredentials): experimental.SecureConnector {
    const host = experimental.splitHostPort(target.path)?.host ?? target.path;
    const context = this.context;
    const call = callCredentials ?? CallCredentials.createEmpty();
    return {
      connect(socket: Socket) {
        return new Promise((resolve, reject) => {
          const tls = tlsConnect({ socket, secureContext: context, host, ALPNProtocols: ["h2"], ...(isIP(host) ? {} : { servername: host }) }, () => {
            if (!tls.authorized) reject(tls.authorizationError);
            else resolve({ socket: tls, secure: true });
          });
          tls.on("error", reject);
        });
      },
      waitForReady: () => Promise.resolve(),
      getCallCredentials: () => call,
      destroy() {},
    };
  }
}

/** TLS credentials from a secure context (CA, and a client certificate for mutual TLS). */
export function sniSafeCredentials(context: SecureContext): ChannelCredentials {
  return new SniSafeChannelCredentials(context);
}
