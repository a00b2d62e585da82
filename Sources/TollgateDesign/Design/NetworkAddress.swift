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
}
