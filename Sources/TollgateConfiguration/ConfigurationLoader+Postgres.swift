import TollgateCore
import Yams

extension ConfigurationLoader {
    /// A claim whose lease is older than `settling_grace_seconds` is taken over by a copy of its proof at another
    /// instance. Its owner renews the lease every third of the grace while it works on it, and a renewal may wait
    /// `timeout_seconds` for the database (longer when retried): a grace under six times that could lapse while its
    /// request still runs, when one renewal is slow and the next one too.
    static func warnOfAShortGrace(_ configuration: GatewayConfiguration, storage: Node?, _ r: inout YAMLReader) {
        guard let postgres = configuration.postgres else { return }
        let least = 6 * postgres.operationTimeoutSeconds
        guard postgres.settlingGraceSeconds < least else { return }
        r.warn(storage, "storage.postgres.settling_grace_seconds", "\(postgres.settlingGraceSeconds) s is less than six times "
               + "storage.postgres.timeout_seconds (\(postgres.operationTimeoutSeconds) s), which each lease renewal may wait for the "
               + "database: another instance could take over a claim still being worked on; set it to at least \(least)")
    }

    static let postgresKeys: Set<String> = ["url", "host", "port", "user", "database", "password_env", "password_file", "tls", "pool_size",
                                            "migrate_on_start", "timeout_seconds", "settling_grace_seconds"]

    /// `storage.postgres`: a `url` (often `${TOLLGATE_POSTGRES_URL}`) or `host`/`port`/`user`/`database`; the password
    /// from `password_env` or `password_file` (or the URL); `tls` disable|require|prefer (default: off for a loopback
    /// host, required otherwise); `pool_size`.
    static func readPostgres(_ node: Node?, _ r: inout YAMLReader) -> PostgresStoreConfiguration? {
        guard let node, let map = r.mapping(node, "storage.postgres", known: postgresKeys) else { return nil }
        var tls: PostgresStoreConfiguration.TLSMode?
        if let text = r.string(map["tls"], "storage.postgres.tls") {
            tls = PostgresStoreConfiguration.TLSMode(rawValue: text)
            if tls == nil { r.fail(map["tls"], "storage.postgres.tls", "expected disable, require or prefer") }
        }
        let passwordEnv = r.string(map["password_env"], "storage.postgres.password_env")
        let passwordFile = r.string(map["password_file"], "storage.postgres.password_file")
        var password: PostgresStoreConfiguration.PasswordSource?
        switch (passwordEnv, passwordFile) {
        case (let name?, nil): password = .environment(name)
        case (nil, let path?): password = .file(path)
        case (_?, _?): r.fail(map["password_file"], "storage.postgres.password_file", "password_env and password_file are both set; choose one")
        case (nil, nil): password = nil
        }
        let poolSize = r.int(map["pool_size"], "storage.postgres.pool_size", range: 1...1000) ?? 10
        let migrateOnStart = r.bool(map["migrate_on_start"], "storage.postgres.migrate_on_start") ?? true
        let timeout = r.int(map["timeout_seconds"], "storage.postgres.timeout_seconds", range: 1...300) ?? 5
        // 0 would let any copy at another instance take over a claim being worked on.
        let grace = r.int(map["settling_grace_seconds"], "storage.postgres.settling_grace_seconds", range: 1...86_400) ?? 120
        func finished(_ configuration: PostgresStoreConfiguration) -> PostgresStoreConfiguration {
            var configuration = configuration
            configuration.migrateOnStart = migrateOnStart
            configuration.operationTimeoutSeconds = timeout
            configuration.settlingGraceSeconds = grace
            return configuration
        }

        if let urlNode = map["url"] {
            for key in ["host", "port", "user", "database"] where map[key] != nil {
                r.fail(map[key], "storage.postgres.\(key)", "does not apply with storage.postgres.url (the URL names it)")
            }
            guard let written = r.string(urlNode, "storage.postgres.url") else { return nil }
            if isEnvironmentReference(written) { r.environmentReferences.insert("storage.postgres.url") }
            let text = r.expandEnvironment(written)
            if text.isEmpty {
                r.fail(urlNode, "storage.postgres.url", "\(written) is not set (expected postgres://user@host:port/database)")
                return nil
            }
            do {
                return finished(try PostgresStoreConfiguration(url: text, password: password, tls: tls, poolSize: poolSize))
            } catch {
                r.fail(urlNode, "storage.postgres.url", error.message)
                return nil
            }
        }
        let host = r.string(map["host"], "storage.postgres.host", required: true, parent: node)
        let user = r.string(map["user"], "storage.postgres.user", required: true, parent: node)
        let database = r.string(map["database"], "storage.postgres.database", required: true, parent: node)
        let port = r.int(map["port"], "storage.postgres.port", range: 1...65535) ?? 5432
        guard let host, let user, let database else { return nil }
        return finished(PostgresStoreConfiguration(host: host, port: port, user: user, database: database, password: password ?? .none,
                                                   tls: tls, poolSize: poolSize))
    }
}
