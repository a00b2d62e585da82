import Foundation
import GRDB
import TollgateCore
import TollgateX402

/// The development facilitator's pretend chain: balances and used EIP-3009 nonces in SQLite.
/// Every address starts with `defaultBalance` atomic units of every asset.
public struct DevLedger: Sendable {
    let writer: DatabasePool
    public let defaultBalance: Int64

    public init(path: String, defaultBalance: Int64 = 1_000_000_000_000) throws {
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
                                                withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        writer = try DatabasePool(path: path, configuration: configuration)
        self.defaultBalance = defaultBalance
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE balance (network TEXT NOT NULL, asset TEXT NOT NULL, address TEXT NOT NULL, amount INTEGER NOT NULL,
                                      PRIMARY KEY (network, asset, address)) WITHOUT ROWID;
                CREATE TABLE transfer (tx TEXT PRIMARY KEY, network TEXT NOT NULL, asset TEXT NOT NULL, payer TEXT NOT NULL,
                                       payee TEXT NOT NULL, amount INTEGER NOT NULL, nonce TEXT NOT NULL, at INTEGER NOT NULL,
                                       UNIQUE (network, asset, payer, nonce));
                """)
        }
        try migrator.migrate(writer)
    }

    public struct Transfer: Sendable, Hashable {
        public var network: String
        public var asset: String
        public var payer: String
        public var payee: String
        public var amount: Int64
        public var nonce: String
    }

    public enum Check: Sendable, Hashable {
        case ok
        case nonceUsed
        case insufficientFunds
    }

    public func check(_ transfer: Transfer) async throws -> Check {
        try await writer.read { db in try Self.check(transfer, db, defaultBalance: defaultBalance) }
    }

    /// Moves the funds and burns the nonce atomically. Returns the transaction hash, or the reason it cannot.
    public func settle(_ transfer: Transfer) async throws -> Result<String, DevLedgerRefusal> {
        try await writer.write { db in
            switch try Self.check(transfer, db, defaultBalance: defaultBalance) {
            case .nonceUsed: return .failure(.init(check: .nonceUsed))
            case .insufficientFunds: return .failure(.init(check: .insufficientFunds))
            case .ok: break
            }
            let tx = Self.transactionHash(transfer)
            try db.cachedStatement(sql: "INSERT INTO transfer (tx, network, asset, payer, payee, amount, nonce, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                .execute(arguments: [tx, transfer.network, transfer.asset, transfer.payer, transfer.payee, transfer.amount, transfer.nonce,
                                     Int64(Date().timeIntervalSince1970)])
            try Self.add(-transfer.amount, to: transfer.payer, transfer, db, defaultBalance: defaultBalance)
            try Self.add(transfer.amount, to: transfer.payee, transfer, db, defaultBalance: defaultBalance)
            return .success(tx)
        }
    }

    public func balance(network: String, asset: String, address: String) async throws -> Int64 {
        try await writer.read { db in
            try Int64.fetchOne(db, sql: "SELECT amount FROM balance WHERE network = ? AND asset = ? AND address = ?",
                               arguments: [network, asset.lowercased(), address.lowercased()]) ?? defaultBalance
        }
    }

    public func transferCount() async throws -> Int {
        try await writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM transfer") ?? 0 }
    }

    static func check(_ transfer: Transfer, _ db: Database, defaultBalance: Int64) throws -> Check {
        let used = try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM transfer WHERE network = ? AND asset = ? AND payer = ? AND nonce = ?"),
                                     arguments: [transfer.network, transfer.asset, transfer.payer, transfer.nonce]) ?? false
        if used { return .nonceUsed }
        let balance = try Int64.fetchOne(db.cachedStatement(sql: "SELECT amount FROM balance WHERE network = ? AND asset = ? AND address = ?"),
                                         arguments: [transfer.network, transfer.asset, transfer.payer]) ?? defaultBalance
        return balance >= transfer.amount ? .ok : .insufficientFunds
    }

    static func add(_ delta: Int64, to address: String, _ transfer: Transfer, _ db: Database, defaultBalance: Int64) throws {
        try db.cachedStatement(sql: """
            INSERT INTO balance (network, asset, address, amount) VALUES (?, ?, ?, ? + ?)
            ON CONFLICT (network, asset, address) DO UPDATE SET amount = amount + ?
            """).execute(arguments: [transfer.network, transfer.asset, address, defaultBalance, delta, delta])
    }

    /// Deterministic, like a real chain's: the same authorization always names the same transaction.
    static func transactionHash(_ transfer: Transfer) -> String {
        HexString.prefixed(Keccak256.hash(Array("tollgate-dev-settle|\(transfer.network)|\(transfer.asset)|\(transfer.payer)|\(transfer.nonce)".utf8)))
    }
}

public struct DevLedgerRefusal: Error, Sendable, Hashable {
    public let check: DevLedger.Check
}
