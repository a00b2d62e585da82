import Foundation
import Testing
import TollgateCore
import AsyncHTTPClient
import GRDB
import TollgateX402
@testable import TollgateClient

@Suite("The client's ledger: a budget shared by processes, authorizations kept before they are sent")
struct PaymentLedgerTests {
    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-ledger-\(UUID().uuidString)/wallet.sqlite").path
    }

    static func choice(_ atomic: String = "10000", payee: String = BudgetTests.payee) throws -> PaymentChoice {
        let terms = BudgetTests.terms([(atomic, "eip155:84532", BudgetTests.usdc, payee)])
        return try Budget(overall: .init()).choose(terms, host: nil, tool: nil)[0]
    }

    static func request(_ n: Int, host: String = "api.example") -> PaymentLedger.Request {
        PaymentLedger.Request(method: "GET", url: "http://\(host)/data?n=\(n)", host: host, tool: nil, key: "key-\(n)")
    }

    static func proof(_ id: String, validBefore: Int64 = Int64(Date().timeIntervalSince1970) + 600) -> PaymentLedger.SignedProof {
        PaymentLedger.SignedProof(name: X402.paymentSignatureHeader, value: "proof-of-\(id)", payer: "0xpayer", nonce: "0x\(id)",
                                  validBefore: validBefore, x402Version: 2)
    }

    /// A ledger written before `said_used_at` existed opens with its purchases intact and the column added, once.
    @Test func aLedgerOfTheFirstSchemaIsMigrated() throws {
        let path = Self.temporaryPath()
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let old = try DatabaseQueue(path: path)
        try old.write { db in
            try db.execute(sql: PaymentLedger.migrations[0])
            try db.execute(sql: "PRAGMA user_version = 1")
            try db.execute(sql: """
                INSERT INTO purchase (id, created_at, method, url, host, request_key, network, asset, symbol, decimals, payee, amount,
                    units, payer, x402_version, proof_name, proof, nonce, valid_before, state, updated_at)
                VALUES ('pay_old', 1, 'GET', 'http://h/x', 'h', 'k', 'eip155:84532', '0xa', 'USDC', 6, '0xb', '10000', 10000, '0xc', 2,
                    'PAYMENT-SIGNATURE', 'p', '0x01', 2, 'unknown', 1)
                """)
        }
        try old.close()
        let ledger = try PaymentLedger(path: path)
        let purchase = try #require(try ledger.purchase("pay_old"))
        #expect(purchase.state == .unknown)
        #expect(purchase.saidUsedAtMillis == nil)
        try ledger.finish("pay_old", .refusal, status: 402, correlationId: nil, transaction: nil, receipt: nil, reason: "used",
                          saidUsed: true, nowMillis: 5)
        try ledger.finish("pay_old", .unknown, status: 503, correlationId: nil, transaction: nil, receipt: nil, reason: "busy",
                          saidUsed: true, nowMillis: 9)
        // The first "already used" is kept.
        #expect(try ledger.purchase("pay_old")?.saidUsedAtMillis == 5)
        _ = try PaymentLedger(path: path)
        #expect(try DatabaseQueue(path: path).read { try Int.fetchOne($0, sql: "PRAGMA user_version") } == PaymentLedger.migrations.count)
    }

    @Test("the ledger file is created readable by its owner only")
    func ownerOnly() throws {
        let path = Self.temporaryPath()
        _ = try PaymentLedger(path: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int).map { $0 & 0o077 } == 0)
    }

    @Test("forty payments at once through two ledger connections (two processes) against a daily cap: exactly the cap is spent")
    func sharedCapUnderRace() async throws {
        let path = Self.temporaryPath()
        let first = try PaymentLedger(path: path), second = try PaymentLedger(path: path)
        var limits = Budget(overall: .init(perDay: MicroUnits(50_000)))
        limits.hosts["api.example"] = .init(perHour: MicroUnits(1_000_000))
        let budget = limits, choice = try Self.choice()
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for n in 0..<40 {
                group.addTask {
                    let ledger = n.isMultiple(of: 2) ? first : second
                    guard case .signed? = try? ledger.authorize(choice, for: Self.request(n), budget: budget,
                                                                 nowMillis: Int64(Date().timeIntervalSince1970 * 1000), sign: { Self.proof($0) }) else { return false }
                    return true
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 5)
        #expect(try first.purchases().count == 5)
        #expect(try second.spent(.overall, seconds: 86_400, nowMillis: Int64(Date().timeIntervalSince1970 * 1000)) == MicroUnits(50_000))
    }

    @Test("a refusal names the limit, and nothing is signed for it")
    func refusalSignsNothing() throws {
        let ledger = try PaymentLedger(path: Self.temporaryPath())
        let budget = Budget(overall: .init(perHour: MicroUnits(15_000)))
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        _ = try ledger.authorize(try Self.choice(), for: Self.request(1), budget: budget, nowMillis: now) { Self.proof($0) }
        var signed = 0
        do {
            _ = try ledger.authorize(try Self.choice(), for: Self.request(2), budget: budget, nowMillis: now) { id in
                signed += 1
                return Self.proof(id)
            }
            Issue.record("the second payment passed a 0.015 hourly cap")
        } catch let error as ClientError {
            #expect(error.code == .budgetExceeded)
            #expect(error.message.contains("per_hour (overall)"))
        }
        #expect(signed == 0)
        #expect(try ledger.purchases().count == 1)
        // An hour later the window has moved on.
        _ = try ledger.authorize(try Self.choice(), for: Self.request(3), budget: budget, nowMillis: now + 3_601_000) { Self.proof($0) }
    }

    static func signed(_ authorization: PaymentLedger.Authorization) throws -> Purchase {
        guard case .signed(let purchase) = authorization else { throw ClientError(.ledger, "expected a new authorization") }
        return purchase
    }

    @Test("an authorization in doubt is returned for the same request, even to a run past its first check, and even past its validBefore")
    func reuse() throws {
        let ledger = try PaymentLedger(path: Self.temporaryPath())
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let budget = Budget(overall: .init())
        let purchase = try Self.signed(try ledger.authorize(try Self.choice(), for: Self.request(1), budget: budget, nowMillis: now) { Self.proof($0) })
        #expect(purchase.id.hasPrefix("pay_") && purchase.id.count == 36)
        #expect(try ledger.inDoubt(requestKey: "key-1")?.id == purchase.id)
        #expect(try ledger.inDoubt(requestKey: "key-2") == nil)
        // A second run of the same request that read "nothing pending" before the first signed: authorize itself
        // finds the first authorization and signs nothing.
        var signedAgain = false
        let second = try ledger.authorize(try Self.choice(), for: Self.request(1), budget: budget, nowMillis: now) { id in
            signedAgain = true
            return Self.proof(id)
        }
        guard case .pending(let found) = second else { Issue.record("a second authorization was signed for one purchase"); return }
        #expect(found.id == purchase.id)
        #expect(!signedAgain)
        #expect(try ledger.sending(purchase.id, nowMillis: now))
        #expect(try ledger.sending(purchase.id, nowMillis: now))
        #expect(try ledger.purchase(purchase.id)?.state == .sent)
        #expect(try ledger.purchase(purchase.id)?.attempts == 2)
        #expect(try ledger.pending().map(\.id) == [purchase.id])
        // Too close to its validBefore to be re-sent as usual, or past it: it may still settle, or may have settled with
        // its answer lost, so it is still what a run of this request gets, and nothing new is signed.
        let validBefore = try #require(try ledger.purchase(purchase.id)).validBefore
        for seconds in [validBefore - Purchase.resendMarginSeconds, validBefore + Purchase.expirySkewSeconds + 3600] {
            guard case .pending(let late) = try ledger.authorize(try Self.choice(), for: Self.request(1), budget: budget, nowMillis: seconds * 1000, sign: { id in
                signedAgain = true
                return Self.proof(id)
            }) else { Issue.record("an authorization in doubt was replaced at \(seconds)"); return }
            #expect(late.id == purchase.id)
        }
        #expect(!signedAgain)
        // Only an answer that settles it frees the request: once it lapsed, a new one may be signed.
        try ledger.finish(purchase.id, .lapsed, status: 402, correlationId: nil, transaction: nil, receipt: nil, reason: "expired unpaid", nowMillis: now)
        #expect(try ledger.inDoubt(requestKey: "key-1") == nil)
        _ = try Self.signed(try ledger.authorize(try Self.choice(), for: Self.request(1), budget: budget, nowMillis: now) { Self.proof($0) })
    }

    @Test("where an authorization stands against the clock: re-sendable, then too close, then expired once clocks may disagree no more")
    func validityPhases() throws {
        var purchase = try Self.signed(try PaymentLedger(path: Self.temporaryPath()).authorize(
            try Self.choice(), for: Self.request(1), budget: Budget(overall: .init()), nowMillis: 0) { Self.proof($0, validBefore: 1_000) })
        #expect(purchase.isInDoubt)
        #expect(purchase.isResendable(nowSeconds: 1_000 - Purchase.resendMarginSeconds - 1))
        #expect(!purchase.isResendable(nowSeconds: 1_000 - Purchase.resendMarginSeconds))
        #expect(!purchase.hasExpired(nowSeconds: 1_000 + Purchase.expirySkewSeconds - 1))
        #expect(purchase.hasExpired(nowSeconds: 1_000 + Purchase.expirySkewSeconds))
        for state in Purchase.State.allCases {
            purchase.state = state
            #expect(purchase.isInDoubt == [.signed, .sent, .unknown].contains(state))
        }
    }

    @Test("endings: delivered and lapsed are final; a refusal after two sends is unknown; everything signed keeps counting")
    func endings() throws {
        let ledger = try PaymentLedger(path: Self.temporaryPath())
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let budget = Budget(overall: .init())
        let delivered = try Self.signed(try ledger.authorize(try Self.choice(), for: Self.request(1), budget: budget, nowMillis: now) { Self.proof($0) })
        #expect(try ledger.sending(delivered.id, nowMillis: now))
        try ledger.finish(delivered.id, .delivered, status: 200, correlationId: "tg_1", transaction: "0xtx", receipt: "{}", reason: nil, nowMillis: now)
        // Another process's late refusal of the same proof does not take the delivery back.
        try ledger.finish(delivered.id, .refusal, status: 402, correlationId: nil, transaction: nil, receipt: nil, reason: "used", nowMillis: now)
        #expect(try ledger.purchase(delivered.id)?.state == .delivered)
        #expect(try ledger.purchase(delivered.id)?.transaction == "0xtx")
        #expect(try ledger.inDoubt(requestKey: "key-1") == nil)

        let once = try Self.signed(try ledger.authorize(try Self.choice(), for: Self.request(2), budget: budget, nowMillis: now) {
            Self.proof($0, validBefore: now / 1000 + 60)
        })
        #expect(try ledger.sending(once.id, nowMillis: now))
        try ledger.finish(once.id, .refusal, status: 402, correlationId: nil, transaction: nil, receipt: nil, reason: "invalid", nowMillis: now)
        #expect(try ledger.purchase(once.id)?.state == .refused)
        #expect(try ledger.inDoubt(requestKey: "key-2") == nil)
        // Another run of the same request read it in doubt before the refusal and sends it again: in doubt again (that
        // send may be taken), and its answer is recorded.
        #expect(try ledger.sending(once.id, nowMillis: now))
        #expect(try ledger.purchase(once.id).map { [$0.state.rawValue, String($0.attempts)] } == ["unknown", "2"])
        #expect(try ledger.inDoubt(requestKey: "key-2")?.id == once.id)
        try ledger.finish(once.id, .delivered, status: 200, correlationId: "tg_2", transaction: "0xtx2", receipt: "{}", reason: nil, nowMillis: now)
        #expect(try ledger.purchase(once.id).map { [$0.state.rawValue, $0.transaction] } == ["delivered", "0xtx2"])
        // A refused purchase that an answer in flight shows was taken after all: recorded with its evidence.
        let refusedThenTaken = try Self.signed(try ledger.authorize(try Self.choice(), for: Self.request(6), budget: budget, nowMillis: now) {
            Self.proof($0)
        })
        #expect(try ledger.sending(refusedThenTaken.id, nowMillis: now))
        try ledger.finish(refusedThenTaken.id, .refusal, status: 402, correlationId: nil, transaction: nil, receipt: nil, reason: "invalid", nowMillis: now)
        try ledger.finish(refusedThenTaken.id, .settledUndelivered, status: 502, correlationId: nil, transaction: "0xs6", receipt: nil, reason: nil, nowMillis: now)
        #expect(try ledger.purchase(refusedThenTaken.id).map { [$0.state.rawValue, $0.transaction] } == ["settled", "0xs6"])

        let twice = try Self.signed(try ledger.authorize(try Self.choice(), for: Self.request(3), budget: budget, nowMillis: now) { Self.proof($0) })
        #expect(try ledger.sending(twice.id, nowMillis: now))
        #expect(try ledger.sending(twice.id, nowMillis: now))
        try ledger.finish(twice.id, .refusal, status: 402, correlationId: nil, transaction: nil, receipt: nil, reason: "used", nowMillis: now)
        #expect(try ledger.purchase(twice.id)?.state == .unknown)

        let settled = try Self.signed(try ledger.authorize(try Self.choice(), for: Self.request(4), budget: budget, nowMillis: now) { Self.proof($0) })
        try ledger.finish(settled.id, .settledUndelivered, status: 502, correlationId: nil, transaction: "0xs", receipt: nil, reason: nil, nowMillis: now)
        #expect(try ledger.purchase(settled.id)?.state == .settled)
        #expect(try ledger.inDoubt(requestKey: "key-4") == nil)

        // Expired, and the server said it holds nothing for it: no longer in doubt; a refusal or a doubt does not reopen
        // it, but an answer of another run's send that shows it was taken after all is recorded, with its evidence.
        let lapsed = try Self.signed(try ledger.authorize(try Self.choice(), for: Self.request(5), budget: budget, nowMillis: now) {
            Self.proof($0, validBefore: now / 1000 - 60)
        })
        #expect(try ledger.sending(lapsed.id, nowMillis: now))
        try ledger.finish(lapsed.id, .lapsed, status: 402, correlationId: nil, transaction: nil, receipt: nil, reason: "expired unpaid", nowMillis: now)
        try ledger.finish(lapsed.id, .unknown, status: 503, correlationId: nil, transaction: nil, receipt: nil, reason: nil, nowMillis: now)
        try ledger.finish(lapsed.id, .refusal, status: 402, correlationId: nil, transaction: nil, receipt: nil, reason: nil, nowMillis: now)
        #expect(try ledger.purchase(lapsed.id)?.state == .lapsed)
        #expect(try ledger.inDoubt(requestKey: "key-5") == nil)
        try ledger.finish(lapsed.id, .settledUndelivered, status: 502, correlationId: "tg_late", transaction: "0xlate", receipt: nil, reason: nil, nowMillis: now)
        #expect(try ledger.purchase(lapsed.id).map { [$0.state.rawValue, $0.transaction, $0.correlationId] } == ["settled", "0xlate", "tg_late"])
        #expect(try ledger.inDoubt(requestKey: "key-5") == nil)

        // A refusal can be a lie (the server may still settle what it holds, or have settled it): all six count, even
        // once expired.
        #expect(try ledger.spent(.overall, seconds: 86_400, nowMillis: now + 120_000) == MicroUnits(60_000))
    }

    @Test("abandon: only a purchase in doubt that can no longer settle; it stays counted, frees its request, and nothing takes it back")
    func abandon() throws {
        let ledger = try PaymentLedger(path: Self.temporaryPath())
        let now = Int64(Date().timeIntervalSince1970 * 1000), budget = Budget(overall: .init())
        func refusal(_ body: () throws -> Void) -> ClientError? {
            do { try body() } catch let error as ClientError { return error } catch { Issue.record("\(error)") }
            return nil
        }
        #expect(refusal { try ledger.abandon("pay_unknown", reason: nil, nowMillis: now) }?.code == .cannotAbandon)

        // In doubt, but able to settle for 29 s more (validBefore 1 s ago, 30 s for clocks): refused, unchanged.
        let open = try Self.signed(try ledger.authorize(try Self.choice(), for: Self.request(1), budget: budget, nowMillis: now) {
            Self.proof($0, validBefore: now / 1000 - 1)
        })
        #expect(try ledger.sending(open.id, nowMillis: now))
        let early = refusal { try ledger.abandon(open.id, reason: nil, nowMillis: now) }
        #expect(early?.code == .cannotAbandon && early?.message.contains("may still settle") == true)
        #expect(try ledger.inDoubt(requestKey: "key-1")?.id == open.id)

        // Expired: abandoned, with its reason; the request is free, the spend still counted.
        let later = now + 30_000
        let abandoned = try ledger.abandon(open.id, reason: "never answered", nowMillis: later)
        #expect(abandoned.state == .abandoned && abandoned.reason == "never answered")
        #expect(try ledger.purchase(open.id) == abandoned)
        #expect(try ledger.inDoubt(requestKey: "key-1") == nil)
        #expect(try ledger.pending().isEmpty)
        guard case .signed(let anew) = try ledger.authorize(try Self.choice(), for: Self.request(1), budget: budget, nowMillis: later, sign: { Self.proof($0) }) else {
            Issue.record("the abandoned purchase still holds its request")
            return
        }
        #expect(anew.id != open.id)
        #expect(try ledger.spent(.overall, seconds: 86_400, nowMillis: later) == MicroUnits(20_000))
        // It is not sent again: a run that read it in doubt before the abandon finds it so as it is about to send it.
        #expect(try !ledger.sending(open.id, nowMillis: later))
        #expect(try ledger.purchase(open.id)?.attempts == 1)
        // It cannot be abandoned twice, and a doubt or a refusal arriving late changes nothing.
        #expect(refusal { try ledger.abandon(open.id, reason: nil, nowMillis: later) }?.message.contains("not in doubt") == true)
        try ledger.finish(open.id, .unknown, status: nil, correlationId: nil, transaction: nil, receipt: nil, reason: "timeout", nowMillis: later)
        #expect(try ledger.purchase(open.id)?.state == .abandoned)
        // The answer of a send already under way when it was abandoned shows it was taken: that evidence is kept.
        try ledger.finish(open.id, .delivered, status: 200, correlationId: "tg_taken", transaction: "0xtaken", receipt: nil, reason: nil, nowMillis: later)
        #expect(try ledger.purchase(open.id).map { [$0.state.rawValue, $0.transaction, $0.correlationId] } == ["delivered", "0xtaken", "tg_taken"])
        #expect(try ledger.inDoubt(requestKey: "key-1")?.id == anew.id)

        // Ended purchases are not in doubt: nothing to abandon.
        let delivered = try Self.signed(try ledger.authorize(try Self.choice(), for: Self.request(2), budget: budget, nowMillis: now) {
            Self.proof($0, validBefore: now / 1000 - 60)
        })
        try ledger.finish(delivered.id, .delivered, status: 200, correlationId: nil, transaction: nil, receipt: nil, reason: nil, nowMillis: now)
        #expect(refusal { try ledger.abandon(delivered.id, reason: nil, nowMillis: later) }?.code == .cannotAbandon)
        #expect(try ledger.purchase(delivered.id)?.state == .delivered)
    }

    @Test("export: every purchase, CSV quoted, JSON parseable, and never the proof itself")
    func export() throws {
        let ledger = try PaymentLedger(path: Self.temporaryPath())
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let purchase = try Self.signed(try ledger.authorize(try Self.choice(), for: Self.request(1), budget: Budget(overall: .init()), nowMillis: now) { Self.proof($0) })
        try ledger.finish(purchase.id, .delivered, status: 200, correlationId: "tg_1", transaction: "0xtx",
                          receipt: #"{"success":true,"transaction":"0xtx"}"#, reason: "a, \"quoted\" reason", nowMillis: now)
        let csv = LedgerExport.csv(try ledger.purchases())
        #expect(csv.hasPrefix(LedgerExport.columns.joined(separator: ",") + "\r\n"))
        #expect(csv.contains("\"a, \"\"quoted\"\" reason\""))
        // A server-written reason that a spreadsheet would run as a formula is defused.
        #expect(LedgerExport.quote("=HYPERLINK(\"http://evil\")") == "\"'=HYPERLINK(\"\"http://evil\"\")\"")
        #expect(LedgerExport.quote("@SUM(A1)") == "'@SUM(A1)")
        #expect(LedgerExport.quote("0.01 USDC") == "0.01 USDC")
        #expect(!csv.contains("proof-of-"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(try LedgerExport.json(try ledger.purchases()).utf8)) as? [[String: String]])
        #expect(json.count == 1)
        #expect(json[0]["transaction"] == "0xtx")
        #expect(json[0]["price"] == "0.01 USDC")
        #expect(json[0]["correlation_id"] == "tg_1")
    }

    @Test("a purchase is the method, URL, body and the caller's headers: another header is another purchase, their order is not")
    func purchaseIdentity() throws {
        let base = PaymentClient.Request(method: "get", url: "http://api.example/data", headers: [("X-Customer", "A"), ("Accept", "*/*")])
        var reordered = base
        reordered.headers = [("accept", "*/*"), ("x-customer", "A")]
        var other = base
        other.headers = [("X-Customer", "B"), ("Accept", "*/*")]
        var posted = base
        posted.body = Array("q=1".utf8)
        let key = try PaymentClient.identity(base).key
        #expect(try PaymentClient.identity(reordered).key == key)
        #expect(try PaymentClient.identity(other).key != key)
        #expect(try PaymentClient.identity(posted).key != key)
        #expect(try PaymentClient.identity(base).host == "api.example")
        #expect(throws: ClientError.self) { try PaymentClient.identity(.init(url: "ftp://api.example/data")) }
        #expect(try PaymentClient.identity(url: "http://mcp.example/mcp", tool: "forecast", arguments: .object([:]), headers: [("Authorization", "a")]).key
            != (try PaymentClient.identity(url: "http://mcp.example/mcp", tool: "forecast", arguments: .object([:]), headers: [("Authorization", "b")]).key))
        #expect(PaymentClient.isInvalidRequest(.invalidURL))
        #expect(PaymentClient.isInvalidRequest(.invalidHeaderFieldNames(["bad name"])))
        #expect(!PaymentClient.isInvalidRequest(.connectTimeout))
    }
}
