import Hummingbird
import NIOCore

/// The request context of Tollgate's listeners, and a ready-made context for applications using
/// `TollgateMiddleware`: Hummingbird's core storage, the peer address and what Tollgate decided.
public struct TollgateRequestContext: TollgateRequestContextProtocol, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public var tollgate: TollgatePaidRequest?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        tollgate = nil
    }
}
