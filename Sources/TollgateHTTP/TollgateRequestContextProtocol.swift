import Hummingbird

/// A request context that can carry what Tollgate decided about a request, in the style of hummingbird-auth's
/// `AuthRequestContext`: `TollgateMiddleware` sets `tollgate` before it calls the next handler, so a route behind
/// it reads the client, the payer and the correlation id from its context. Adopt it in your own context, or use
/// `TollgateRequestContext`.
public protocol TollgateRequestContextProtocol: RequestContext {
    /// Set by `TollgateMiddleware` for every request it passes on (paid or free); nil on routes it is not in front of.
    var tollgate: TollgatePaidRequest? { get set }
}
