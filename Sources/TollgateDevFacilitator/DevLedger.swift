import Foundation
import GRDB
import Synchronization
import TollgateCore
import TollgateSQLite
import TollgateX402

/// The development facilitator's pretend chain: balances and used EIP-3009 nonces in SQLite.
/// Every address starts with `defaultBalance` atomic units of every asset.
///
/// The chain's state is also kept in memory, read from the file when the ledger opens: a `/verify` reads no database,
/// and a settlement is decided in memory (so two settlements of one authorization at once cannot both pass), then
/// written with the settlements that arrive meanwhile in one transaction (the gateway's group commit), and answered once
/// it is committed. A settlement in flight counts as done: a copy of it, or a payment its balance no longer covers, is
/// refused meanwhile, even if its write then fails (as a pending transaction counts on a chain). One ledger serves a
/// file at a time (a lock beside it, `<path>.lock`, refuses a second one, in this process or another); the memory grows
/// with the transfers, as the file does (about 80 bytes per transfer, 200 per account).
public struct DevLedger: Sendable {
    let writer: DatabasePool
    private let commits: GroupCommitter
    private let chain: Chain
    private let lock: FileLock
    public let defaultBalance: Int64

    /// Throws `TollgateError` `.ledgerInUse` when another ledger has the file open.
    public init(path: String, defaultBalance: Int64 = 1_000_000_000_000) throws {
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
                                                withIntermediateDirectories: true)
        lock = try FileLock(path: path + ".lock")
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
        chain = try writer.read { db in try Chain(db) }
        // A pretend chain: its commits are not synced (GRDB's WAL set-up, NORMAL), as before the group commit.
        commits = GroupCommitter(writer: writer, durable: false)
    }

    public struct Transfer: Sendable, Hashable {
        public var network: String
        public var asset: String
        public var payer: String
        public var payee: String
        public var amount: Int64
        public var nonce: String

        /// Addresses, asset and nonce as the ledger keys them: lowercase hex, `0x`-prefixed.
        public init(network: String, asset: String, payer: String, payee: String, amount: Int64, nonce: String) {
            self.network = network
            self.asset = asset
            self.payer = payer
            self.payee = payee
            self.amount = amount
            self.nonce = nonce
        }
    }

    public enum Check: Sendable, Hashable {
        case ok
        case nonceUsed
        case insufficientFunds
        /// The payee's balance would leave the pretend chain's 64-bit range.
        case outOfRange
    }

    /// Whether `transfer` could be settled now (a settlement in flight counts as done).
    public func check(_ transfer: Transfer) -> Check {
        let key = TransactionKey(Self.transactionDigest(transfer))
        return chain.state.withLock { $0.check(transfer, key: key, defaultBalance: defaultBalance) }
    }

    /// Moves the funds and burns the nonce atomically. Returns the transaction hash, or the reason it cannot.
    public func settle(_ transfer: Transfer) async throws -> Result<String, DevLedgerRefusal> {
        let digest = Self.transactionDigest(transfer)
        let key = TransactionKey(digest)
        let tx = HexString.prefixed(digest)
        let defaultBalance = defaultBalance
        let taken = chain.state.withLock { state in
            let check = state.check(transfer, key: key, defaultBalance: defaultBalance)
            if check == .ok { state.apply(transfer, key: key, defaultBalance: defaultBalance) }
            return check
        }
        guard taken == .ok else { return .failure(.init(check: taken)) }
        let written: Bool
        do {
            // The write captures values only: once answered, nothing of this ledger waits in the writer's queue.
            written = try await commits.write { db in
                // Ignored only when another program wrote this authorization into the file: no funds move twice.
                try db.cachedStatement(sql: "INSERT OR IGNORE INTO transfer (tx, network, asset, payer, payee, amount, nonce, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                    .execute(arguments: [tx, transfer.network, transfer.asset, transfer.payer, transfer.payee, transfer.amount, transfer.nonce,
                                         Int64(Date().timeIntervalSince1970)])
                guard db.changesCount == 1 else { return false }
                try Self.add(-transfer.amount, to: transfer.payer, transfer, db, defaultBalance: defaultBalance)
                try Self.add(transfer.amount, to: transfer.payee, transfer, db, defaultBalance: defaultBalance)
                return true
            }
        } catch {
            // Nothing was written: the settlement never happened, in memory either.
            chain.state.withLock { $0.revert(transfer, key: key) }
            throw error
        }
        if !written {
            chain.state.withLock { $0.revertFunds(transfer) }
            return .failure(.init(check: .nonceUsed))
        }
        return .success(tx)
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

    static func add(_ delta: Int64, to address: String, _ transfer: Transfer, _ db: Database, defaultBalance: Int64) throws {
        try db.cachedStatement(sql: """
            INSERT INTO balance (network, asset, address, amount) VALUES (?, ?, ?, ? + ?)
            ON CONFLICT (network, asset, address) DO UPDATE SET amount = amount + ?
            """).execute(arguments: [transfer.network, transfer.asset, address, defaultBalance, delta, delta])
    }

    /// Deterministic, like a real chain's: the same authorization always names the same transaction (`0x` and its
    /// digest in hex).
    static func transactionDigest(_ transfer: Transfer) -> [UInt8] {
        transactionDigest(network: transfer.network, asset: transfer.asset, payer: transfer.payer, nonce: transfer.nonce)
    }

    static func transactionDigest(network: String, asset: String, payer: String, nonce: String) -> [UInt8] {
        Keccak256.hash(Array("tollgate-dev-settle|\(network)|\(asset)|\(payer)|\(nonce)".utf8))
    }
}

extension DevLedger {
    /// The ledger's state in memory: what the file holds, and the settlements being written.
    final class Chain: Sendable {
        struct Account: Hashable {
            var network: String
            var asset: String
            var address: String
        }

        struct State {
            /// The transaction of every settled authorization (it names the authorization: `transactionDigest`).
            var settled: Set<TransactionKey> = []
            /// Balances that differ from the default.
            var balances: [Account: Int64] = [:]

            /// `.ok` only when the payer's balance covers the amount and the payee's stays within the pretend chain's
            /// 64-bit range.
            func check(_ transfer: Transfer, key: TransactionKey, defaultBalance: Int64) -> Check {
                if settled.contains(key) { return .nonceUsed }
                let balance = balances[Account(network: transfer.network, asset: transfer.asset, address: transfer.payer)] ?? defaultBalance
                guard transfer.amount >= 0, balance >= transfer.amount else { return .insufficientFunds }
                let received = balances[Account(network: transfer.network, asset: transfer.asset, address: transfer.payee)] ?? defaultBalance
                return received.addingReportingOverflow(transfer.amount).overflow ? .outOfRange : .ok
            }

            mutating func apply(_ transfer: Transfer, key: TransactionKey, defaultBalance: Int64) {
                settled.insert(key)
                move(transfer, sign: 1, defaultBalance: defaultBalance)
            }

            mutating func revert(_ transfer: Transfer, key: TransactionKey) {
                settled.remove(key)
                revertFunds(transfer)
            }

            mutating func revertFunds(_ transfer: Transfer) { move(transfer, sign: -1, defaultBalance: 0) }

            /// Adds `sign × amount` from payer to payee (a balance not yet known starts at `defaultBalance`; a revert
            /// only ever undoes a move, so its balances are known).
            private mutating func move(_ transfer: Transfer, sign: Int64, defaultBalance: Int64) {
                balances[Account(network: transfer.network, asset: transfer.asset, address: transfer.payer), default: defaultBalance] -= sign * transfer.amount
                balances[Account(network: transfer.network, asset: transfer.asset, address: transfer.payee), default: defaultBalance] += sign * transfer.amount
            }
        }

        let state: Mutex<State>

        /// The state the file holds.
        init(_ db: Database) throws {
            var loaded = State()
            // Keyed by what `settle` keys them by, whatever the `tx` column says (another program may have written it).
            let transfers = try Row.fetchCursor(db, sql: "SELECT network, asset, payer, nonce FROM transfer")
            while let row = try transfers.next() {
                loaded.settled.insert(TransactionKey(DevLedger.transactionDigest(network: row[0], asset: row[1], payer: row[2], nonce: row[3])))
            }
            let rows = try Row.fetchCursor(db, sql: "SELECT network, asset, address, amount FROM balance")
            while let row = try rows.next() {
                loaded.balances[Account(network: row[0], asset: row[1], address: row[2])] = row[3]
            }
            state = Mutex(loaded)
        }
    }
}

extension DevLedger {
    /// A transaction hash as 32 bytes held inline (a set of strings cost about twice the memory).
    struct TransactionKey: Hashable, Sendable {
        let words: SIMD4<UInt64>

        /// `digest` is 32 bytes.
        init(_ digest: [UInt8]) {
            func word(_ index: Int) -> UInt64 { digest[index * 8..<index * 8 + 8].reduce(0) { $0 << 8 | UInt64($1) } }
            words = SIMD4(word(0), word(1), word(2), word(3))
        }
    }

    /// An exclusive `flock` on a file beside the ledger, held while the ledger is open: each ledger keeps the chain's
    /// state in memory, so two on one file would each believe their own balances.
    final class FileLock: Sendable {
        private let descriptor: Int32

        init(path: String) throws(TollgateError) {
            let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                throw TollgateError(.ledgerUnreadable, "cannot open \(path): \(String(cString: strerror(errno)))")
            }
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
                close(descriptor)
                throw TollgateError(.ledgerInUse, "another development facilitator has this ledger open (\(path) is locked)")
            }
            self.descriptor = descriptor
        }

        deinit { close(descriptor) }
    }
}

extension TollgateError.Code {
    /// The development facilitator's ledger file is open in another ledger (this process or another).
    public static let ledgerInUse = Self("ledger_in_use")
    /// The development facilitator's ledger lock file cannot be opened.
    public static let ledgerUnreadable = Self("ledger_unreadable")
}

public struct DevLedgerRefusal: Error, Sendable, Hashable {
    public let check: DevLedger.Check
}
