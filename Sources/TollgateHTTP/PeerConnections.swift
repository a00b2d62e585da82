import NIOCore
import Synchronization
import TollgateCore

/// The connections each client network (an IP prefix, as the rate limits count it) holds on one listener, so that one
/// host cannot take every connection the listener accepts: a connection beyond `maxPerPeer` is closed as soon as it is
/// accepted. Trusted proxies (`trusted_proxies`) carry many clients' connections and are not counted. The table holds only
/// the prefixes with open connections.
public final class PeerConnections: Sendable {
    public let maxPerPeer: Int
    private let ipv4Bits: Int
    private let ipv6Bits: Int
    private let exempt: TrustedProxies
    private let open = Mutex<[String: Int]>([:])

    public init(maxPerPeer: Int, ipv4Bits: Int = 32, ipv6Bits: Int = 64, exempt: TrustedProxies = .none) {
        self.maxPerPeer = maxPerPeer
        self.ipv4Bits = ipv4Bits
        self.ipv6Bits = ipv6Bits
        self.exempt = exempt
    }

    /// Counts a connection from `address`: the prefix it was counted under, and whether it is within the share. Nil: not
    /// counted (no address, or a trusted proxy).
    func opened(from address: String?) -> (prefix: String, allowed: Bool)? {
        guard let address, !exempt.contains(address) else { return nil }
        let prefix = IPPrefix.of(address, ipv4Bits: ipv4Bits, ipv6Bits: ipv6Bits)
        let count = open.withLock { table in
            table[prefix, default: 0] += 1
            return table[prefix] ?? 0
        }
        return (prefix, count <= maxPerPeer)
    }

    func closed(_ prefix: String) {
        open.withLock { table in
            let left = (table[prefix] ?? 1) - 1
            table[prefix] = left > 0 ? left : nil
        }
    }

    /// Connections open from the network of `address` (for tests).
    public func count(from address: String) -> Int {
        open.withLock { $0[IPPrefix.of(address, ipv4Bits: ipv4Bits, ipv6Bits: ipv6Bits)] ?? 0 }
    }

    /// The handler counting one connection.
    func handler() -> PeerConnectionHandler { PeerConnectionHandler(connections: self) }
}

/// Counts its connection in `PeerConnections` while it is open, and closes it when its network holds its share already.
final class PeerConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    /// Whatever the decoder passes on, untouched.
    typealias InboundIn = NIOAny

    private let connections: PeerConnections
    private var counted: String?

    init(connections: PeerConnections) {
        self.connections = connections
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard counted == nil, let peer = connections.opened(from: context.channel.remoteAddress?.ipAddress) else { return }
        counted = peer.prefix
        if !peer.allowed { context.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        release()
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    private func release() {
        if let counted { connections.closed(counted) }
        counted = nil
    }
}
