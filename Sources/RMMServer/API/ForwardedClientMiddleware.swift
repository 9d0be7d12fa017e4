import Hummingbird
import NIOCore
import RMMProtocol

/// On a request from a `--trusted-proxy` peer, takes the client's address from `X-Forwarded-For`
/// (the rightmost entry that is not itself a trusted proxy, `TrustedProxies.forwardedClient`) for
/// the audit's `remote` and the per-address limits. From any other peer the header is ignored:
/// anyone can write one. In the router only when the server trusts some proxy.
struct ForwardedClientMiddleware: RouterMiddleware {
    typealias Context = OperatorContext
    let trusted: TrustedProxies

    /// The header's name as HTTP fields compare it (lower case).
    static let header = "x-forwarded-for"

    func handle(_ request: Request, context: OperatorContext, next: (Request, OperatorContext) async throws -> Response) async throws -> Response {
        guard let peer = context.peer, let peerBytes = peer.ipBytes else { return try await next(request, context) }
        let values = request.headers.filter { $0.name.canonicalName == Self.header }.map(\.value)
        guard !values.isEmpty, let client = trusted.forwardedClient(peer: peerBytes, headers: values),
              let address = try? SocketAddress(packedIPAddress: ByteBuffer(bytes: client), port: 0) else {
            return try await next(request, context)
        }
        var context = context
        // The proxy does not say the client's port.
        context.remote = address.ipAddress ?? "unknown"
        context.remoteKey = AddressLimiter.key(for: address)
        return try await next(request, context)
    }
}
