import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import TollgateCore

/// What the clients of one listener may hold: connections at most (beyond that the listener stops accepting, and new
/// connections wait in the kernel's backlog until one closes), a share of them per client network, how long a request may
/// take to arrive whole, and how long a connection may sit idle or leave its answer unread before it is closed. Each
/// connection holds at most one request body and one answer in memory, so these bound what a flood of connections can
/// pin, and one host cannot take them all.
public struct ListenerLimits: Sendable {
    public var maxConnections: Int
    /// Connections one client network (an IP prefix, `ipv4Bits`/`ipv6Bits`) may hold; trusted proxies are not counted.
    public var maxConnectionsPerPeer: Int
    public var idleTimeoutSeconds: Int
    public var requestTimeoutSeconds: Int
    public var ipv4Bits = 32
    public var ipv6Bits = 64
    public var trustedProxies: TrustedProxies = .none

    public init(maxConnections: Int = 1024, maxConnectionsPerPeer: Int = 128, idleTimeoutSeconds: Int = 60, requestTimeoutSeconds: Int = 60) {
        self.maxConnections = maxConnections
        self.maxConnectionsPerPeer = maxConnectionsPerPeer
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.requestTimeoutSeconds = requestTimeoutSeconds
    }

    /// The admin listener's: one operator's tools on loopback.
    public static let admin = ListenerLimits(maxConnections: 64, maxConnectionsPerPeer: 64)

    /// The HTTP/1 server for `Application(server:)`, with its own count of each network's connections.
    public func server() -> HTTPServerBuilder {
        let idle = TimeAmount.seconds(Int64(idleTimeoutSeconds)), request = TimeAmount.seconds(Int64(requestTimeoutSeconds))
        let peers = PeerConnections(maxPerPeer: maxConnectionsPerPeer, ipv4Bits: ipv4Bits, ipv6Bits: ipv6Bits, exempt: trustedProxies)
        return .http1(configuration: .init(
            additionalChannelHandlers: [peers.handler(), RequestDeadlineHandler(timeout: request), UnreadAnswerHandler(timeout: idle)],
            idleTimeout: idle))
    }

    /// The application's configuration, listening on `address`.
    public func configuration(address: BindAddress, serverName: String, logger: Logger) -> ApplicationConfiguration {
        .init(address: address, serverName: serverName,
              availableConnectionsDelegate: MaximumAvailableConnections(maxConnections, logger: logger))
    }
}
