import Foundation
import Logging
import PostgresNIO
import TollgateCore

/// Builds the postgres-nio client of a `PostgresStoreConfiguration`.
///
/// The returned `PostgresClient` is a swift-service-lifecycle `Service`: nothing connects until its `run()` is running
/// (in a `ServiceGroup`, or a task the caller cancels at the end).
public enum PostgresClients {
    /// A pooled client; reads the password now (from the environment or its file). `longHeld`: connections beyond
    /// `pool_size` for the store's long-held ones (a client that serves no store, such as a test's, may need none).
    /// Throws `invalidConfiguration` when the password cannot be read.
    public static func make(_ configuration: PostgresStoreConfiguration, logger: Logger, longHeld: Int = longHeldConnections,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws(TollgateError) -> PostgresClient {
        let password = try configuration.resolvePassword(environment: environment)
        var client = PostgresClient.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.user, password: password,
            database: configuration.database, tls: tls(configuration.tls))
        client.options.maximumConnections = max(configuration.poolSize, 1) + max(longHeld, 0)
        client.options.minimumConnections = 0
        // The pool logs every failed connection attempt (at info) while the database is away; the store reports the
        // outage itself, once (`PostgresHealthMonitor`), so only the pool's own errors are kept.
        var background = logger
        background.logLevel = max(logger.logLevel, .error)
        return PostgresClient(configuration: client, backgroundLogger: background)
    }

    /// Connections held for as long as their holder runs, on top of `pool_size`: the listener of control changes
    /// (`followControlChanges`) and an exclusive job's lock (`exclusively`, the reconciler). Counted in the pool, they
    /// left a small one with nothing for the work they wait on: with `pool_size: 2` the reconciler's first pass waited
    /// for a connection forever, and every request with it.
    public static let longHeldConnections = 2

    /// The TLS setting of postgres-nio; `require` and `prefer` verify the server's certificate against the system roots.
    static func tls(_ mode: PostgresStoreConfiguration.TLSMode) -> PostgresClient.Configuration.TLS {
        switch mode {
        case .disable: .disable
        case .require: .require(.makeClientConfiguration())
        case .prefer: .prefer(.makeClientConfiguration())
        }
    }

    /// Runs `body` with `client` running beside it, then stops the client (for one-shot commands and tests).
    public static func withRunning<Result: Sendable>(_ client: PostgresClient,
                                                     _ body: @Sendable (PostgresClient) async throws -> Result) async throws -> Result {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}
