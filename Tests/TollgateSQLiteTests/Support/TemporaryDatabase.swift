import Foundation
import TollgateCore
import TollgateSQLite

/// A `SQLiteStore` on a file in a fresh temporary directory, and fixtures to fill it.
struct TemporaryDatabase {
    let directory: URL
    let store: SQLiteStore

    /// The audit keys of a deployment whose secret is 32 bytes of 7.
    static let auditKeys = KeyRing([SecretKey(id: "k1", secret: Array(repeating: 7, count: 32))!])!.auditKeys()

    var path: String { directory.appendingPathComponent("tollgate.sqlite").path }

    init(auditKeys: KeyRing? = nil) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-tests-\(UUID().uuidString)")
        store = try SQLiteStore(path: directory.appendingPathComponent("tollgate.sqlite").path, auditKeys: auditKeys)
    }

    /// Removes the directory; the open pool keeps working on Linux until it is released.
    func remove() { try? FileManager.default.removeItem(at: directory) }

    static func key(nonce: String = "0x01", payer: String = "0xAbC0000000000000000000000000000000000001") -> ProofKey {
        ProofKey(network: "eip155:84532", asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", payer: payer, nonce: nonce)
    }

    static func reservation(_ key: ProofKey, correlationId: String, validBefore: Int64 = 2_000_000_000) -> Reservation {
        Reservation(key: key, correlationId: correlationId, clientId: "alice", resource: "datasets", validBefore: validBefore)
    }

    static func event(_ correlationId: String, _ stage: AuditEvent.Stage, at millis: Int64, reason: String? = nil) -> AuditEvent {
        AuditEvent(correlationId: correlationId, timeMillis: millis, stage: stage, outcome: .ok, reason: reason,
                   clientId: "alice", resource: "datasets", details: ["n": String(millis), "path": "/datasets/a?b=1"])
    }

    static func payment(_ key: ProofKey, correlationId: String) -> PaymentRecord {
        PaymentRecord(correlationId: correlationId, rail: "test-rail", network: key.network, asset: key.asset, payer: key.payer,
                      payee: "0x209693bc6afc0c5328ba36faf03c514ef312287c", amount: "115792089237316195423570985008687907853269984665640564039457584007913129639935",
                      nonce: key.nonce, transaction: "0xtx1", clientId: "alice", resource: "datasets", unit: "request", quantity: 1,
                      settledAtMillis: 1_750_000_000_123)
    }
}
