import HTTPTypes
import Hummingbird
import NIOCore
import TollgateCore

/// The Hummingbird door: the whole Tollgate journey (identify → authorize → price → 402 | verify → reserve →
/// forward → settle → respond) in front of the routes of an existing Hummingbird 2 application. The next handler
/// is the upstream: it runs only for requests the gateway lets through, with `context.tollgate` set to what was
/// decided (client, payer, amount, correlation id), and its answer is released only once the payment settled.
///
/// ```swift
/// let assembly = GatewayAssembly(configuration: configuration, keys: keys, store: store, logger: logger)
/// let router = Router(context: TollgateRequestContext.self)
/// router.add(middleware: TollgateMiddleware(assembly: assembly))
/// router.get("/quotes/:symbol") { _, context in "paid by \(context.tollgate?.payer ?? "nobody")" }
/// let app = Application(router: router, services: assembly.services)
/// ```
///
/// What the middleware does not price follows the configuration's `unmatched` policy: with `pass`, a request no
/// configured route matches is served free by the next handler (its context still carries the client and the
/// correlation id, with no payer); with `deny` (the default) it is answered 404 and the next handler never runs.
/// Hummingbird applies a middleware to the routes added after it (and to its not-found answer): add it first, or
/// to the group of routes it guards; routes outside its reach are not seen by Tollgate at all. The router matches
/// the path as sent and the gateway prices the same path (a path not in its normal form is refused, 400). A router
/// built with `.caseInsensitive` needs `upstream.path_case: insensitive` (`RouteTable.pathCase`): matched exactly,
/// `/QUOTES/x` would reach the handler of `/quotes/x` at another route's terms (unstated, such a request is refused).
/// Every request behind it is read whole (up to `max_request_body_bytes`) and answered whole (up to
/// `upstream.max_response_bytes`); keep streaming routes out of its reach.
public struct TollgateMiddleware<Context: TollgateRequestContextProtocol>: RouterMiddleware {
    let door: GatewayDoor
    let maxResponseBytes: Int

    /// - Parameters:
    ///   - maxRequestBodyBytes: a larger request body is refused (413) before the handler runs.
    ///   - maxResponseBytes: a larger answer from the handler is an upstream failure (502, not charged).
    ///   - trustedProxies: the peers allowed to name the client's address; the peer is the context's
    ///     `remoteAddress` when it is a `RemoteAddressRequestContext`.
    ///   - metrics: counts every response by status class.
    public init(gateway: Gateway, maxRequestBodyBytes: Int = 1 << 20, maxResponseBytes: Int = 32 << 20,
                trustedProxies: TrustedProxies = .none, metrics: GatewayMetrics? = nil) {
        door = GatewayDoor(gateway: gateway, maxRequestBodyBytes: maxRequestBodyBytes, metrics: metrics, trustedProxies: trustedProxies)
        self.maxResponseBytes = maxResponseBytes
    }

    /// The assembly's gateway, with the configured body and response limits, trusted proxies and metrics.
    public init(assembly: GatewayAssembly) {
        let configuration = assembly.configuration
        self.init(gateway: assembly.gateway, maxRequestBodyBytes: configuration.maxRequestBodyBytes,
                  maxResponseBytes: configuration.maxUpstreamResponseBytes, trustedProxies: configuration.trustedProxies,
                  metrics: assembly.metrics)
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // Hummingbird has chosen the handler on the path as sent; the gateway prices its normal form (RFC 3986
        // §6.2.2). Where the two differ (`/qu%6Ftes/x`), the handler that would run is not the one priced, so the
        // request is refused; paths the gateway refuses outright (dot segments, encoded separators) it answers itself.
        let path = request.uri.path
        if case .success(let normal) = RequestPath.normalize(path), normal != path {
            let response = Self.nonCanonical
            door.metrics?.countResponse(status: response.status.code)
            return response
        }
        let peer = (context as? any RemoteAddressRequestContext)?.remoteAddress
        return await withoutActuallyEscaping(next) { next in
            let upstream = NextHandlerUpstream(original: request, context: context, clientAddress: door.clientAddress(request, peer: peer),
                                               maxResponseBytes: maxResponseBytes, next: UncheckedNext(call: next))
            return await door.answer(request, peer: peer, upstream: upstream)
        }
    }

    static var nonCanonical: Response {
        let body = #"{"error":"bad_request","reason":"non_canonical_path","detail":"send the path in its normal form (RFC 3986 6.2.2)"}"#
        return Response(status: .badRequest, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
