import Hummingbird
import NIOCore

/// The request context of Tollgate's listeners: Hummingbird's core storage plus the peer address.
public struct TollgateRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
