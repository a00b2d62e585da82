import Foundation

/// Where a peer (a facilitator, the upstream) is reached: scheme, host, port and the path its endpoints hang under, read
/// once from its base URL.
public struct HTTPOrigin: Sendable, Equatable {
    public var secure: Bool
    /// The host as a name or an address, without an IPv6 literal's brackets.
    public var host: String
    public var port: Int
    /// The base URL's path without its trailing slash (`/facilitator` of `https://x402.org/facilitator`), maybe empty.
    public var pathPrefix: String
    /// The base URL's query (`api_key=…`), sent after each endpoint's path.
    var query: String?
    /// `Basic …` from credentials written in the URL (`https://user:secret@host`).
    var basicAuthorization: String?

    /// Whether the URL holds what may be a secret: credentials or a query (`api_key=…`).
    public var carriesSecrets: Bool { query != nil || basicAuthorization != nil }

    /// The URL as it may be shown in logs, metrics and the audit log: no credentials, no query.
    public var shown: String { "\(secure ? "https" : "http")://\(hostField)\(pathPrefix)" }

    /// A configured URL as it may be shown (`shown`); one that cannot be read as a base URL shows as such, never whole.
    public static func shown(_ url: String) -> String { HTTPOrigin(baseURL: url)?.shown ?? "(not an http(s) URL)" }

    /// The request target of one endpoint (`/verify`) or request (`/data?day=1`): under the base URL's path, the base
    /// URL's query before the request's own, so that a backend reading the first of a repeated parameter reads the
    /// operator's (`?api_key=K` is not overridden by a client's `?api_key=X`).
    func target(_ path: String) -> String {
        guard let query else { return pathPrefix + path }
        guard let mark = path.firstIndex(of: "?") else { return "\(pathPrefix)\(path)?\(query)" }
        let own = path[path.index(after: mark)...]
        return "\(pathPrefix)\(path[..<mark])?\(query)\(own.isEmpty ? "" : "&")\(own)"
    }

    /// The `Host` field: the host with its port when that is not the scheme's own (written once, sent with every request).
    let hostField: String

    /// Whether the host is an address literal (TLS then sends no server name).
    var hostIsAddress: Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    /// Reads `http(s)://[user:password@]host[:port][/path][?query]`; nil for anything else (another scheme, no host,
    /// a fragment).
    public init?(baseURL: String) {
        guard let parts = URLComponents(string: baseURL), let scheme = parts.scheme?.lowercased(), scheme == "http" || scheme == "https",
              var host = parts.host, !host.isEmpty, parts.fragment == nil else { return nil }
        query = parts.percentEncodedQuery.flatMap { $0.isEmpty ? nil : $0 }
        if parts.user != nil || parts.password != nil {
            let credentials = "\(parts.user ?? ""):\(parts.password ?? "")"
            basicAuthorization = "Basic " + Data(credentials.utf8).base64EncodedString()
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        secure = scheme == "https"
        self.host = host
        port = parts.port ?? (secure ? 443 : 80)
        guard (1...65535).contains(port) else { return nil }
        var path = parts.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        pathPrefix = path
        let name = host.contains(":") ? "[\(host)]" : host
        hostField = port == (secure ? 443 : 80) ? name : "\(name):\(port)"
    }
}
