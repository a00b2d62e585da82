import Foundation
import Testing
import TollgateConfiguration
import TollgateCore
import TollgateSQLite

/// A gateway's files in a fresh directory: `gateway.yaml` (Fixtures/gateway.yaml, pointed at this
/// directory's secret file and database) and the database, holding one paid and delivered flow written
/// through the store as the gateway writes it.
struct GatewayFixture {
    static let asset = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
    static let payer = "0xAbC0000000000000000000000000000000000001"
    static let payee = "0x209693bc6afc0c5328ba36faf03c514ef312287c"
    static let nonce = "0x" + String(repeating: "a1", count: 32)
    static let transaction = "0x" + String(repeating: "d4", count: 32)

    let directory: URL
    let store: SQLiteStore
    /// The paid flow: offer, proof, verify, reserve, facilitator verify, forward, settle, respond; 0.01 USDC.
    let paid = CorrelationId.make()

    /// `gateway.yaml` and the database it names, in `directory`.
    let config: String, database: String

    init() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-cli-\(UUID().uuidString)")
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("gateway.yaml").path, database = directory.appendingPathComponent("gateway.sqlite").path
        let secret = directory.appendingPathComponent("secret").path
        try String(repeating: "5a", count: 32).write(toFile: secret, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: secret)
        let template = try String(contentsOf: try Self.fixture("gateway.yaml"), encoding: .utf8)
        try template.replacingOccurrences(of: "SECRET_FILE", with: secret).replacingOccurrences(of: "DATABASE_FILE", with: database)
            .write(toFile: config, atomically: true, encoding: .utf8)
        self.config = config
        self.database = database
        // Opened as the gateway opens it: audit events chained with the key derived from the configured secret.
        let configuration = try ConfigurationLoader.load(path: config).0
        store = try SQLiteStore(path: configuration.sqlitePath, auditKeys: try SecretResolver.keyRing(configuration.secrets).auditKeys())
        try await recordPaidFlow(at: SystemClock().nowMillis())
    }

    static func fixture(_ name: String) throws -> URL {
        try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"), "Fixtures/\(name) is missing")
    }

    /// `tollgate ARGUMENTS -c gateway.yaml`.
    func tollgate(_ arguments: String...) async -> CommandRun {
        await CommandRun.tollgate(arguments + ["-c", config])
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    private func recordPaidFlow(at millis: Int64) async throws {
        let key = ProofKey(network: "eip155:84532", asset: Self.asset, payer: Self.payer, nonce: Self.nonce)
        try await store.append([event(.offer, .issued, millis, reason: Reason.paymentRequired.rawValue)])
        let received = ["payer": Self.payer, "network": key.network, "asset": Self.asset, "amount": "10000", "nonce": Self.nonce]
        let reservation = Reservation(key: key, correlationId: paid, clientId: "", resource: "datasets", validBefore: millis / 1000 + 300)
        let outcome = try await store.reserve(reservation, events: [
            event(.proof, .received, millis + 1, details: received),
            event(.verify, .ok, millis + 2),
            event(.reserve, .ok, millis + 3, details: ["proof": key.description]),
        ])
        #expect(outcome == .reserved)
        let payment = PaymentRecord(correlationId: paid, rail: "x402-exact-evm", network: key.network, asset: key.asset, payer: key.payer,
                                    payee: Self.payee, amount: "10000", nonce: key.nonce, transaction: Self.transaction, clientId: "",
                                    resource: "datasets", unit: "request", quantity: 1, settledAtMillis: millis + 6)
        try await store.finish(key, state: .settled, payment: payment, events: [
            event(.facilitatorVerify, .ok, millis + 4),
            event(.forward, .ok, millis + 5, details: ["status": "200"]),
            event(.settle, .ok, millis + 6, details: ["transaction": Self.transaction, "network": key.network, "amount": "10000"]),
            event(.respond, .ok, millis + 7, reason: "delivered", details: ["status": "200", "settled": "true"]),
        ])
    }

    private func event(_ stage: AuditEvent.Stage, _ outcome: AuditEvent.Outcome, _ millis: Int64, reason: String? = nil,
                       details: [String: String] = [:]) -> AuditEvent {
        AuditEvent(correlationId: paid, timeMillis: millis, stage: stage, outcome: outcome, reason: reason, clientId: nil,
                   resource: "datasets", details: details)
    }
}
