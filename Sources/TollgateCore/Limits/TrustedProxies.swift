import HTTPTypes

/// The proxies (load balancers) allowed to say who the client is. Only a peer in this list may set the client
/// address, with `Forwarded: for=` or `X-Forwarded-For`; the client is then the rightmost hop that is not itself
/// a trusted proxy, so a client cannot pick its own address by prepending hops. Empty (the default): the peer
/// is the client, whatever the headers say.
public struct TrustedProxies: Sendable, Hashable {
    struct Network: Sendable, Hashable {
        let bits: [UInt8]
        let prefix: Int

        init?(_ cidr: String) {
            let parts = cidr.split(separator: "/", maxSplits: 1)
            guard let address = parts.first.flatMap({ Self.bytes(String($0)) }) else { return nil }
            let prefix = parts.count == 2 ? Int(parts[1]) : address.count * 8
            guard let prefix, (0...(address.count * 8)).contains(prefix) else { return nil }
            self.bits = address
            self.prefix = prefix
        }

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bits.count else { return false }
            for index in 0..<bits.count {
                let keep = max(0, min(8, prefix - index * 8))
                let mask: UInt8 = keep == 0 ? 0 : ~UInt8(0) << (8 - keep)
                if address[index] & mask != bits[index] & mask { return false }
            }
            return true
        }

        static func bytes(_ text: String) -> [UInt8]? {
            if let v4 = IPPrefix.ipv4(text) { return [UInt8(v4 >> 24), UInt8(v4 >> 16 & 255), UInt8(v4 >> 8 & 255), UInt8(v4 & 255)] }
            if let v6 = IPPrefix.ipv6(text) {
                // An IPv4-mapped IPv6 address is the IPv4 address.
                if v6[0..<5].allSatisfy({ $0 == 0 }) && v6[5] == 0xFFFF {
                    return [UInt8(v6[6] >> 8), UInt8(v6[6] & 255), UInt8(v6[7] >> 8), UInt8(v6[7] & 255)]
                }
                return v6.flatMap { [UInt8($0 >> 8), UInt8($0 & 255)] }
            }
            return nil
        }
    }

    let networks: [Network]

    /// Nil when an entry is not an IP address or CIDR block (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`).
    public init?(_ cidrs: [String]) {
        var networks: [Network] = []
        for cidr in cidrs {
            guard let network = Network(cidr) else { return nil }
            networks.append(network)
        }
        self.networks = networks
    }

    public static let none = TrustedProxies([])!

    public var isEmpty: Bool { networks.isEmpty }

    public func contains(_ address: String) -> Bool {
        guard let bytes = Network.bytes(address) else { return false }
        return networks.contains { $0.contains(bytes) }
    }

    /// The client's address: `peer` itself unless `peer` is a trusted proxy; then the rightmost hop of
    /// `Forwarded` or `X-Forwarded-For` that is not a trusted proxy. A balancer writes one of them and passes the other on
    /// as the client sent it: when both are present they must name the same client, or neither is believed (the peer is
    /// the client), so a client cannot pick its address by sending the field its balancer does not write.
    public func clientAddress(peer: String?, fields: HTTPFields) -> String? {
        guard let peer, contains(peer) else { return peer }
        let forwarded = Self.forwardedFor(fields).map { client(of: $0, peer: peer) }
        let xForwarded = fields[Self.xForwardedForName] == nil ? nil : client(of: Self.xForwardedFor(fields), peer: peer)
        // Compared as addresses: the two fields spell IPv6 differently (`"[2001:db8::1]"`, `2001:db8::1`).
        if let forwarded, let xForwarded, Network.bytes(forwarded) != Network.bytes(xForwarded) { return peer }
        return forwarded ?? xForwarded ?? peer
    }

    /// The rightmost hop that is not a trusted proxy; `peer` for hops that are not addresses.
    private func client(of hops: [String], peer: String) -> String {
        for hop in hops.reversed() {
            guard Network.bytes(hop) != nil else { return peer }   // garbage from a client: trust none of it
            if !contains(hop) { return hop }
        }
        return hops.first ?? peer
    }

    static let xForwardedForName = HTTPField.Name("X-Forwarded-For")!
    static let forwardedName = HTTPField.Name("Forwarded")!

    static func xForwardedFor(_ fields: HTTPFields) -> [String] {
        fields[values: xForwardedForName].flatMap { $0.split(separator: ",") }.map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
    }

    /// The `for=` of each `Forwarded` element (RFC 7239), without quotes, brackets or port; nil without the field, or
    /// when it names no `for=` (`Forwarded: proto=https` says nothing of the client).
    static func forwardedFor(_ fields: HTTPFields) -> [String]? {
        let values = fields[values: forwardedName]
        guard !values.isEmpty else { return nil }
        var hops: [String] = []
        for element in values.flatMap({ $0.split(separator: ",") }) {
            for pair in element.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, parts[0].trimmingSpaces().lowercased() == "for" else { continue }
                var value = parts[1].trimmingSpaces()
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                if value.hasPrefix("[") {
                    value = String(value.dropFirst().prefix { $0 != "]" })
                } else if value.filter({ $0 == ":" }).count == 1 {
                    value = String(value.prefix { $0 != ":" })
                }
                hops.append(value)
            }
        }
        return hops.isEmpty ? nil : hops
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
