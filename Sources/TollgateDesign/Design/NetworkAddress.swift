import Foundation

/// What the report needs to know about the addresses and networks in a configuration.
enum NetworkAddress {
    /// Whether `host` is a loopback name or address (`localhost`, `127.0.0.0/8`, `::1`).
    static func isLoopback(host: String) -> Bool {
        let lowered = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if lowered == "localhost" || lowered == "::1" { return true }
        let octets = lowered.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// The host of an http(s) URL, nil when it has none.
    static func host(of url: String) -> String? {
        URL(string: url)?.host
    }

    /// Whether an http(s) URL points at this machine.
    static func isLoopback(url: String) -> Bool {
        host(of: url).map { isLoopback(host: $0) } ?? false
    }

    /// Whether an URL uses TLS.
    static func isHTTPS(_ url: String) -> Bool {
        url.lowercased().hasPrefix("https://")
    }

    /// EVM test networks (the development facilitator's list): money on them is not real.
    static let testChainIds: Set<UInt64> = [84532, 11155111, 17000, 80002, 421614, 11155420, 43113, 97, 31337, 1337]

    /// Whether a CAIP-2 network is a known EVM test network.
    static func isTestNetwork(_ network: String) -> Bool {
        let parts = network.split(separator: ":")
        guard parts.count == 2, parts[0] == "eip155", let id = UInt64(parts[1]) else { return false }
        return testChainIds.contains(id)
    }
}
