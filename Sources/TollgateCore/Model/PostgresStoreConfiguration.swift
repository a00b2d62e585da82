import Foundation

/// Where the PostgreSQL store connects and how (`storage.postgres`).
///
/// A plain value so that reading a configuration needs no database driver: `TollgatePostgres` turns it into a
/// running client. TLS follows one rule: off by default for a loopback host, required otherwise unless turned off.
public struct PostgresStoreConfiguration: Sendable, Hashable {
    /// How the connection is encrypted.
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        /// Never TLS.
        case disable
        /// TLS or no connection; the server's certificate is verified.
        case require
        /// TLS when the server offers it, plain otherwise.
        case prefer
    }

    /// Where the password comes from, when there is one; never written in the configuration itself.
    public enum PasswordSource: Sendable, Hashable {
        /// No password (trust or peer authentication).
        case none
        /// The value of this environment variable.
        case environment(String)
        /// The contents of this file, without its trailing newline.
        case file(String)
        /// Given in the connection URL (`postgres://user:password@host/db`), usually itself from the environment.
        case literal(String)
    }

    public var host: String
    public var port: Int
    public var user: String
    public var database: String
    public var password: PasswordSource
    public var tls: TLSMode
    /// Connections for requests and jobs; the client opens up to `PostgresClients.longHeldConnections` more (the
    /// listener of control changes, the reconciler's lock), which the server's `max_connections` must allow for.
    public var poolSize: Int
    /// Apply pending migrations when a gateway starts (`migrate_on_start`, default true); off, start-up refuses a
    /// database that is not up to date and `tollgate migrate` applies them.
    public var migrateOnStart = true
    /// An operation still waiting after this long fails with `store_unavailable` (`timeout_seconds`, default 5):
    /// paid requests answer 503 instead of hanging while the database is away.
    public var operationTimeoutSeconds = 5
    /// A claim whose lease (renewed every third of this while its owner works on it, on the database's clock) is younger
    /// than this belongs to a live instance: a copy elsewhere waits, a starting instance and other instances'
    /// reconcilers leave it alone (`settling_grace_seconds`, default 120).
    public var settlingGraceSeconds = 120

    /// A configuration; `tls` nil applies the default rule (`defaultTLS(host:)`).
    public init(host: String, port: Int = 5432, user: String, database: String, password: PasswordSource = .none,
                tls: TLSMode? = nil, poolSize: Int = 10) {
        self.host = host
        self.port = port
        self.user = user
        self.database = database
        self.password = password
        self.tls = tls ?? Self.defaultTLS(host: host)
        self.poolSize = poolSize
    }

    /// Off for a loopback host (`localhost`, `127.0.0.0/8`, `::1`, a Unix socket folder), required for any other.
    public static func defaultTLS(host: String) -> TLSMode {
        isLoopback(host) ? .disable : .require
    }

    /// Whether `host` names this machine.
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return h == "localhost" || h.hasSuffix(".localhost") || h == "::1" || h.hasPrefix("127.") || h.hasPrefix("/")
    }

    /// Parses `postgres://user[:password]@host[:port]/database[?sslmode=disable|require|prefer]`
    /// (`postgresql://` too). Throws `invalidConfiguration` naming what is wrong.
    public init(url text: String, password: PasswordSource? = nil, tls: TLSMode? = nil, poolSize: Int = 10) throws(TollgateError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
              scheme == "postgres" || scheme == "postgresql" else {
            throw TollgateError(.invalidConfiguration, "expected a postgres://user@host:port/database URL", details: ["field": "url"])
        }
        guard let host = components.host, !host.isEmpty else {
            throw TollgateError(.invalidConfiguration, "the PostgreSQL URL names no host", details: ["field": "url"])
        }
        guard let user = components.user, !user.isEmpty else {
            throw TollgateError(.invalidConfiguration, "the PostgreSQL URL names no user", details: ["field": "url"])
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else {
            throw TollgateError(.invalidConfiguration, "the PostgreSQL URL names no database", details: ["field": "url"])
        }
        var urlTLS: TLSMode?
        if let mode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value {
            guard let parsed = TLSMode(rawValue: mode) else {
                throw TollgateError(.invalidConfiguration, "sslmode must be disable, require or prefer", details: ["field": "url"])
            }
            urlTLS = parsed
        }
        let urlPassword: PasswordSource = components.password.map { .literal($0.removingPercentEncoding ?? $0) } ?? .none
        self.init(host: host, port: components.port ?? 5432, user: user.removingPercentEncoding ?? user,
                  database: database.removingPercentEncoding ?? database, password: password ?? urlPassword,
                  tls: tls ?? urlTLS, poolSize: poolSize)
    }

    /// The password, read now from its source; nil when there is none.
    /// Throws `invalidConfiguration` when the variable is unset or the file unreadable.
    public func resolvePassword(environment: [String: String] = ProcessInfo.processInfo.environment) throws(TollgateError) -> String? {
        switch password {
        case .none: return nil
        case .literal(let value): return value
        case .environment(let name):
            guard let value = environment[name], !value.isEmpty else {
                throw TollgateError(.invalidConfiguration, "the PostgreSQL password variable \(name) is not set", details: ["field": "password_env"])
            }
            return value
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw TollgateError(.invalidConfiguration, "cannot read the PostgreSQL password file \(path)", details: ["field": "password_file"])
            }
            return String(text.trimmingCharacters(in: .newlines))
        }
    }
}
