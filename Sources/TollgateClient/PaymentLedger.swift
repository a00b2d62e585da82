import Foundation
import GRDB
import TollgateCore

/// The client's own ledger (SQLite): every authorization it signed, written before it is sent, and the budget's
/// arithmetic. Processes that share one ledger file share its budget: a payment is checked against the limits and
/// recorded in one `BEGIN IMMEDIATE` transaction, which SQLite runs one at a time across processes, so concurrent
/// agents can never together exceed a limit.
public final class PaymentLedger: Sendable {
    let queue: DatabaseQueue
    public let path: String

    /// Opens (or creates, readable by its owner only) the ledger at `path`.
    public init(path: String) throws(ClientError) {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        do {
            if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            // Created in place (no temporary file renamed over it, which could split agents opening a new ledger at
            // once onto two files), readable by its owner only.
            let descriptor = open(path, O_RDWR | O_CREAT, 0o600)
            guard descriptor >= 0 else { throw ClientError(.ledger, "cannot create the ledger \(path)") }
            close(descriptor)
            var configuration = Configuration()
            configuration.busyMode = .timeout(30)
            queue = try DatabaseQueue(path: path, configuration: configuration)
            // Many agents may open a new ledger at once: the schema is created under SQLite's cross-process write
            // lock, versioned by `user_version` (GRDB's migrator serialises within one process only).
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                try db.inTransaction(.immediate) {
                    for (index, migration) in Self.migrations.enumerated() where try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0 <= index {
                        try db.execute(sql: migration)
                        try db.execute(sql: "PRAGMA user_version = \(index + 1)")
                    }
                    return .commit
                }
            }
        } catch let error as ClientError {
            throw error
        } catch {
            throw ClientError(.ledger, "cannot open the ledger \(path): \(error)")
        }
    }

    /// `$TOLLGATE_LEDGER`, else `$XDG_DATA_HOME/tollgate/wallet.sqlite`, else `~/.local/share/tollgate/wallet.sqlite`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let path = environment["TOLLGATE_LEDGER"], !path.isEmpty { return path }
        let base = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.local/share")
        return base + "/tollgate/wallet.sqlite"
    }

    /// The schema, one entry per version (`PRAGMA user_version` counts the ones applied).
    static let migrations = [
        """
        CREATE TABLE purchase (
            id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, method TEXT NOT NULL, url TEXT NOT NULL, host TEXT NOT NULL,
            tool TEXT, request_key TEXT NOT NULL, network TEXT NOT NULL, asset TEXT NOT NULL, symbol TEXT NOT NULL,
            decimals INTEGER NOT NULL, payee TEXT NOT NULL, amount TEXT NOT NULL, units INTEGER NOT NULL, payer TEXT NOT NULL,
            x402_version INTEGER NOT NULL, proof_name TEXT NOT NULL, proof TEXT NOT NULL, nonce TEXT NOT NULL,
            valid_before INTEGER NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, status INTEGER,
            correlation_id TEXT, "transaction" TEXT, receipt TEXT, reason TEXT, updated_at INTEGER NOT NULL
        );
        CREATE INDEX purchase_created ON purchase (created_at);
        CREATE INDEX purchase_request ON purchase (request_key, state);
        """,
        // Purchases in doubt whose last answer said "already used" (its reason then names the code) keep that evidence.
        """
        ALTER TABLE purchase ADD COLUMN said_used_at INTEGER;
        UPDATE purchase SET said_used_at = updated_at
        WHERE state IN ('signed', 'sent', 'unknown') AND reason LIKE '%nonce_already_used%';
        """,
        // Purchases a refusal left in doubt because it may hide money that moved keep that evidence too. Those recorded
        // before this version are not known: their reasons do not say it.
        """
        ALTER TABLE purchase ADD COLUMN may_have_moved_at INTEGER;
        UPDATE purchase SET may_have_moved_at = said_used_at WHERE said_used_at IS NOT NULL;
        """,
    ]

    /// What the signer returns: the proof to send, and what the ledger keeps of it.
    public struct SignedProof: Sendable {
        public var name: String
        public var value: String
        public var payer: String
        public var nonce: String
        public var validBefore: Int64
        public var x402Version: Int
    }

    /// What is being bought.
    public struct Request: Sendable, Hashable {
        public var method: String
        public var url: String
        public var host: String
        public var tool: String?
        public var key: String
    }

    /// What `authorize` did: signed a new authorization, or found one of the same request still in doubt (another run
    /// got there first, or an earlier run left it unanswered), which the caller resolves instead.
    public enum Authorization: Sendable {
        case signed(Purchase)
        case pending(Purchase)
    }

    /// Checks `choice` against every limit of `budget` and, when it fits, signs it (`sign`, given the purchase id to
    /// send as its `payment-identifier`) and records it, all in one transaction no other process can interleave with.
    /// An authorization of the same request still in doubt (`signed`, `sent`, `unknown`), however close to or past
    /// its validBefore, is returned instead (`pending`): it may still settle, or may have settled with its answer
    /// lost, so two runs of one purchase never sign twice, however close together they start or however late the
    /// second comes.
    public func authorize(_ choice: PaymentChoice, for request: Request, budget: Budget, nowMillis: Int64,
                          sign: (_ purchaseId: String) throws -> SignedProof) throws -> Authorization {
        try write { db in
            if let pending = try Self.inDoubt(db, requestKey: request.key) { return .pending(pending) }
            if let refusal = try budget.windowBreach(choice, host: request.host, tool: request.tool, spent: { scope, seconds in
                try Self.spent(db, scope: scope, since: nowMillis - seconds * 1000)
            }) {
                throw refusal
            }
            var generator = SystemRandomNumberGenerator()
            let id = "pay_" + HexString.encode((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let proof = try sign(id)
            let purchase = Purchase(
                id: id, createdAtMillis: nowMillis, method: request.method, url: request.url, host: request.host, tool: request.tool,
                requestKey: request.key, network: choice.option.network, asset: choice.option.asset, symbol: choice.asset.symbol,
                decimals: choice.asset.decimals, payee: choice.option.payTo, amount: choice.amount.atomic, units: choice.units.value,
                payer: proof.payer, x402Version: proof.x402Version, proofName: proof.name, proof: proof.value, nonce: proof.nonce,
                validBefore: proof.validBefore, state: .signed, attempts: 0, updatedAtMillis: nowMillis)
            try purchase.insert(db)
            return .signed(purchase)
        }
    }

    /// Units counted in `scope` since `sinceMillis`. Every authorization signed counts, whatever the server said of it:
    /// a server that refuses a payment may still settle it before it expires, so nothing signed is ever free again.
    static func spent(_ db: Database, scope: SpendScope, since sinceMillis: Int64) throws -> MicroUnits {
        var sql = "SELECT COALESCE(SUM(units), 0) FROM purchase WHERE created_at >= ?"
        var arguments: [any DatabaseValueConvertible] = [sinceMillis]
        switch scope {
        case .overall: break
        case .host(let host): sql += " AND host = ?"; arguments.append(host)
        case .payee(let payee): sql += " AND lower(payee) = ?"; arguments.append(payee)
        case .tool(let tool): sql += " AND tool = ?"; arguments.append(tool)
        }
        return MicroUnits(try Int64.fetchOne(db, sql: sql, arguments: StatementArguments(arguments)) ?? 0)
    }

    /// What was spent in `scope` over the last `seconds`.
    public func spent(_ scope: SpendScope, seconds: Int64, nowMillis: Int64) throws -> MicroUnits {
        try read { db in try Self.spent(db, scope: scope, since: nowMillis - seconds * 1000) }
    }

    /// The authorization signed for this very request that is still in doubt (`signed`, `sent`, `unknown`), the newest
    /// first, whatever its validBefore: it is sent again rather than a new one signed (a crash, a timeout or a lost
    /// answer must never cost a second payment), and only an answer that settles the question frees the request.
    public func inDoubt(requestKey: String) throws -> Purchase? {
        try read { db in try Self.inDoubt(db, requestKey: requestKey) }
    }

    static func inDoubt(_ db: Database, requestKey: String) throws -> Purchase? {
        try Purchase.fetchOne(db, sql: "SELECT * FROM purchase WHERE request_key = ? AND state IN ('signed', 'sent', 'unknown') ORDER BY created_at DESC, id LIMIT 1",
                              arguments: [requestKey])
    }

    /// Records that the proof is about to be sent (once more); false, and nothing recorded, when it must not be sent: it
    /// was abandoned meanwhile (`abandon`, by another process after this run read it in doubt) or is not in the ledger.
    /// A proof another run saw refused meanwhile (the same request run twice at once) is in doubt again once it is sent
    /// again: its second send may be taken, so its request is not free until that is settled.
    public func sending(_ id: String, nowMillis: Int64) throws -> Bool {
        try write { db in
            try db.execute(sql: """
                UPDATE purchase SET state = CASE state WHEN 'signed' THEN 'sent' WHEN 'refused' THEN 'unknown' ELSE state END,
                    attempts = attempts + 1, updated_at = ?
                WHERE id = ? AND state <> 'abandoned'
                """, arguments: [nowMillis, id])
            return db.changesCount > 0
        }
    }

    /// How an answer ends a purchase.
    public enum Ending: Sendable {
        /// Delivered (2xx).
        case delivered
        /// The server took the payment (a successful receipt) but did not deliver: it counts, and is never re-sent.
        case settledUndelivered
        /// The server said it did not take the payment: `refused` when this proof was sent once, `unknown` when it was
        /// sent more than once (by this process or another), as the first send may have been taken and its answer lost,
        /// or when the refusal may hide money that moved (`stillInDoubt`).
        case refusal
        /// No answer that settles the question.
        case unknown
        /// Expired, and the server shown it afterwards holds no payment for it: no longer in doubt, still counted.
        case lapsed
    }

    /// Records how a purchase ended. A purchase already delivered or settled stays so (another process's answer does
    /// not take it back), and so does a refusal already recorded. One `abandoned`, `lapsed` or `refused` that an answer
    /// shows was taken after all (a send in flight when it was abandoned, another run's send of the same proof) becomes
    /// `delivered` or `settled` with that answer's evidence (status, correlation id, transaction, receipt): the proof the
    /// owner needs to ask for a refund. `saidUsed`: the answer said the authorization was already used
    /// (`Purchase.saidUsedAtMillis`, kept from the first such answer on, whatever the purchase's state). `stillInDoubt`: a
    /// refusal that may hide money that moved (used, a settlement that failed without saying nothing moved, a 402 whose
    /// reason is not coded as a refusal before any settlement) leaves the purchase `unknown` even after one send, and is
    /// kept (`Purchase.mayHaveMovedAtMillis`).
    public func finish(_ id: String, _ ending: Ending, status: Int?, correlationId: String?, transaction: String?, receipt: String?,
                       reason: String?, saidUsed: Bool = false, stillInDoubt: Bool = false, nowMillis: Int64) throws {
        let state: String = switch ending {
        case .delivered: "'delivered'"
        case .settledUndelivered: "'settled'"
        case .refusal where stillInDoubt: "'unknown'"
        case .refusal: "CASE WHEN attempts > 1 THEN 'unknown' ELSE 'refused' END"
        case .unknown: "'unknown'"
        case .lapsed: "'lapsed'"
        }
        let open = switch ending {
        case .delivered, .settledUndelivered: "'signed', 'sent', 'unknown', 'abandoned', 'lapsed', 'refused'"
        case .refusal, .unknown, .lapsed: "'signed', 'sent', 'unknown'"
        }
        try write { db in
            try db.execute(sql: """
                UPDATE purchase SET state = \(state), status = COALESCE(?, status), correlation_id = COALESCE(?, correlation_id),
                    "transaction" = COALESCE(?, "transaction"), receipt = COALESCE(?, receipt), reason = ?, updated_at = ?
                WHERE id = ? AND state IN (\(open))
                """, arguments: [status, correlationId, transaction, receipt, reason, nowMillis, id])
            if saidUsed {
                try db.execute(sql: "UPDATE purchase SET said_used_at = ? WHERE id = ? AND said_used_at IS NULL", arguments: [nowMillis, id])
            }
            if stillInDoubt {
                try db.execute(sql: "UPDATE purchase SET may_have_moved_at = ? WHERE id = ? AND may_have_moved_at IS NULL", arguments: [nowMillis, id])
            }
        }
    }

    /// Gives up a purchase in doubt once nothing can settle it any more (past its validBefore, clock skew included), so
    /// that its request can be paid anew: it ends `abandoned` and still counts against the budget (it may have settled,
    /// its answer lost). Refused, with the reason, for a purchase that is unknown, no longer in doubt (another run
    /// settled the question meanwhile), or that may still settle. Checked and written in one transaction of the ledger:
    /// a run of its request in another process ends it first, or finds it abandoned when it is about to send it
    /// (`sending`) and sends nothing; one whose send was already under way records what its answer shows (`finish`).
    @discardableResult
    public func abandon(_ id: String, reason: String?, nowMillis: Int64) throws -> Purchase {
        try write { db in
            guard var purchase = try Purchase.fetchOne(db, key: id) else {
                throw ClientError(.cannotAbandon, "no purchase \(id) in the ledger \(path)")
            }
            guard purchase.isInDoubt else {
                throw ClientError(.cannotAbandon, "purchase \(id) is \(purchase.state.rawValue), not in doubt: there is nothing to abandon")
            }
            guard purchase.hasExpired(nowSeconds: nowMillis / 1000) else {
                let free = PaymentClient.timestamp(purchase.validBefore + Purchase.expirySkewSeconds)
                throw ClientError(.cannotAbandon, "purchase \(id) may still settle: its validBefore and the \(Purchase.expirySkewSeconds) s "
                                  + "allowed for clocks pass at \(free); run its request again, or abandon it after that")
            }
            // A server said it was used: paid, its answer lost. It ends settled (still freeing its request).
            purchase.state = purchase.saidUsedAtMillis == nil ? .abandoned : .settled
            purchase.reason = reason ?? (purchase.saidUsedAtMillis == nil ? "abandoned by the wallet's owner while in doubt"
                : "given up by the wallet's owner; a server said it was already used: paid, its answer lost")
            purchase.updatedAtMillis = nowMillis
            try purchase.update(db, columns: [Purchase.CodingKeys.state.rawValue, Purchase.CodingKeys.reason.rawValue,
                                              Purchase.CodingKeys.updatedAtMillis.rawValue])
            return purchase
        }
    }

    /// The most recent purchases first.
    public func purchases(limit: Int = 1000) throws -> [Purchase] {
        try read { db in try Purchase.fetchAll(db, sql: "SELECT * FROM purchase ORDER BY created_at DESC, id LIMIT ?", arguments: [limit]) }
    }

    /// Purchases signed or sent with no final answer: what a crash or a lost response left.
    public func pending() throws -> [Purchase] {
        try read { db in
            try Purchase.fetchAll(db, sql: "SELECT * FROM purchase WHERE state IN ('signed', 'sent', 'unknown') ORDER BY created_at")
        }
    }

    public func purchase(_ id: String) throws -> Purchase? {
        try read { db in try Purchase.fetchOne(db, key: id) }
    }

    private func write<Value>(_ body: (Database) throws -> Value) throws -> Value {
        do {
            return try queue.writeWithoutTransaction { db in
                var value: Value?
                try db.inTransaction(.immediate) {
                    value = try body(db)
                    return .commit
                }
                return value!
            }
        } catch let error as ClientError {
            throw error
        } catch let error as DatabaseError {
            throw ClientError(.ledger, "the ledger \(path) could not be written: \(error.message ?? "\(error.resultCode)")")
        }
    }

    private func read<Value>(_ body: (Database) throws -> Value) throws -> Value {
        do {
            return try queue.read(body)
        } catch let error as DatabaseError {
            throw ClientError(.ledger, "the ledger \(path) could not be read: \(error.message ?? "\(error.resultCode)")")
        }
    }
}
