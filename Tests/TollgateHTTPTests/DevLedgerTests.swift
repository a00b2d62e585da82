import Foundation
import GRDB
import Testing
import TollgateCore
import TollgateDevFacilitator

/// The development facilitator's ledger decides in memory and writes through a group commit: one authorization settles
/// once whatever runs at the same time, a reopened file remembers, and a write that fails leaves nothing settled.
@Suite struct DevLedgerTests {
    static func path() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("dev-ledger-\(UUID().uuidString)/ledger.sqlite").path
    }

    /// Opens the file again once the ledger before it is gone. Its lock may outlive it by a moment: another test starting
    /// a program at that instant holds a copy of the lock's descriptor in the child until the child's `exec` closes it.
    static func reopen(_ path: String, defaultBalance: Int64) async throws -> DevLedger {
        for _ in 0..<100 {
            do {
                return try DevLedger(path: path, defaultBalance: defaultBalance)
            } catch let error as TollgateError where error.code == .ledgerInUse {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        return try DevLedger(path: path, defaultBalance: defaultBalance)
    }

    static func transfer(nonce: String = "0x" + String(repeating: "ab", count: 32), payer: String = "0x" + String(repeating: "11", count: 20),
                         amount: Int64 = 60) -> DevLedger.Transfer {
        .init(network: "eip155:84532", asset: "0x036cbd53842c5426634e7929541ec2318f3dcf7e", payer: payer,
              payee: "0x209693bc6afc0c5328ba36faf03c514ef312287c", amount: amount, nonce: nonce)
    }

    static func nonce(_ index: Int) -> String { "0x" + String(format: "%064x", index) }

    @Test func oneAuthorizationSettlesOnceWhenItsSettlementsRaceEachOther() async throws {
        let ledger = try DevLedger(path: Self.path(), defaultBalance: 1_000)
        let transfer = Self.transfer()
        let outcomes = try await withThrowingTaskGroup(of: Result<String, DevLedgerRefusal>.self) { group in
            for _ in 0..<32 { group.addTask { try await ledger.settle(transfer) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let settled = outcomes.compactMap { try? $0.get() }
        #expect(settled.count == 1)
        #expect(outcomes.filter { if case .failure(let refusal) = $0 { refusal.check == .nonceUsed } else { false } }.count == 31)
        #expect(try await ledger.transferCount() == 1)
        #expect(try await ledger.balance(network: transfer.network, asset: transfer.asset, address: transfer.payer) == 940)
        #expect(try await ledger.balance(network: transfer.network, asset: transfer.asset, address: transfer.payee) == 1_060)
        #expect(ledger.check(transfer) == .nonceUsed)
    }

    @Test func aBalanceIsNeverSpentTwiceByConcurrentAuthorizations() async throws {
        let ledger = try DevLedger(path: Self.path(), defaultBalance: 100)
        // Two different authorizations of 60 from a payer holding 100: only one can pass.
        let outcomes = try await withThrowingTaskGroup(of: Result<String, DevLedgerRefusal>.self) { group in
            for index in 0..<8 { group.addTask { try await ledger.settle(Self.transfer(nonce: Self.nonce(index))) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.count { (try? $0.get()) != nil } == 1)
        #expect(outcomes.count { if case .failure(let refusal) = $0 { refusal.check == .insufficientFunds } else { false } } == 7)
        let payer = Self.transfer().payer
        #expect(try await ledger.balance(network: "eip155:84532", asset: Self.transfer().asset, address: payer) == 40)
        #expect(ledger.check(Self.transfer(nonce: Self.nonce(99), amount: 40)) == .ok)
        #expect(ledger.check(Self.transfer(nonce: Self.nonce(99), amount: 41)) == .insufficientFunds)
    }

    @Test func aReopenedLedgerRemembersWhatWasSettledAndTheBalances() async throws {
        let path = Self.path()
        do {
            let ledger = try DevLedger(path: path, defaultBalance: 100)
            #expect(try await ledger.settle(Self.transfer()).get().hasPrefix("0x"))
        }
        let reopened = try await Self.reopen(path, defaultBalance: 100)
        #expect(reopened.check(Self.transfer()) == .nonceUsed)
        guard case .failure(let refusal) = try await reopened.settle(Self.transfer()) else {
            Issue.record("a settled authorization settled again after a restart")
            return
        }
        #expect(refusal.check == .nonceUsed)
        // 40 left of 100: another authorization of 60 is refused from memory, one of 40 passes.
        #expect(reopened.check(Self.transfer(nonce: Self.nonce(1))) == .insufficientFunds)
        #expect(try await reopened.settle(Self.transfer(nonce: Self.nonce(2), amount: 40)).get().hasPrefix("0x"))
        #expect(try await reopened.transferCount() == 2)
    }

    @Test func aSecondLedgerOnAnOpenFileIsRefusedUntilTheFirstIsGone() async throws {
        let path = Self.path()
        do {
            let first = try DevLedger(path: path, defaultBalance: 1_000)
            #expect(try await first.settle(Self.transfer()).get().hasPrefix("0x"))
            // Its own balances in memory would soon differ from the first's: refused, whichever process asks.
            let refused = #expect(throws: TollgateError.self) { try DevLedger(path: path, defaultBalance: 1_000) }
            #expect(refused?.code == .ledgerInUse)
        }
        let next = try await Self.reopen(path, defaultBalance: 1_000)
        #expect(next.check(Self.transfer()) == .nonceUsed)
        #expect(next.check(Self.transfer(nonce: Self.nonce(1), amount: 940)) == .ok)
        #expect(next.check(Self.transfer(nonce: Self.nonce(1), amount: 941)) == .insufficientFunds)
    }

    @Test func aTransferAnotherProgramWroteIntoTheFileIsRefusedAndMovesNoFunds() async throws {
        let path = Self.path()
        let ledger = try DevLedger(path: path, defaultBalance: 1_000)
        let transfer = Self.transfer()
        #expect(ledger.check(transfer) == .ok)
        // Someone edits the pretend chain under the running ledger (sqlite3): the authorization is now used in the file.
        try await DatabaseQueue(path: path).write { db in
            try db.execute(sql: "INSERT INTO transfer (tx, network, asset, payer, payee, amount, nonce, at) SELECT 'x', ?, ?, ?, ?, 1, ?, 0",
                           arguments: [transfer.network, transfer.asset, transfer.payer, transfer.payee, transfer.nonce])
        }
        guard case .failure(let refusal) = try await ledger.settle(transfer) else {
            Issue.record("the file's transfer was not seen: the authorization settled twice")
            return
        }
        #expect(refusal.check == .nonceUsed)
        #expect(ledger.check(transfer) == .nonceUsed)
        #expect(try await ledger.transferCount() == 1)
        #expect(try await ledger.balance(network: transfer.network, asset: transfer.asset, address: transfer.payer) == 1_000)
        // The refused settlement's funds are back in memory: the whole balance can still be spent once.
        #expect(try await ledger.settle(Self.transfer(nonce: Self.nonce(5), amount: 1_000)).get().hasPrefix("0x"))
        #expect(try await ledger.balance(network: transfer.network, asset: transfer.asset, address: transfer.payer) == 0)
        // Read back from the file by the next ledger: the edited row counts as settled too.
        let path2 = path
        _ = consume ledger
        let reopened = try await Self.reopen(path2, defaultBalance: 1_000)
        #expect(reopened.check(transfer) == .nonceUsed)
        #expect(reopened.check(Self.transfer(nonce: Self.nonce(6), amount: 1)) == .insufficientFunds)
    }

    @Test func aPayeeBalanceBeyondTheChainsRangeIsRefusedNotATrap() async throws {
        let ledger = try DevLedger(path: Self.path(), defaultBalance: Int64.max - 10)
        let transfer = Self.transfer(amount: 60)
        #expect(ledger.check(transfer) == .outOfRange)
        guard case .failure(let refusal) = try await ledger.settle(transfer) else {
            Issue.record("a payee balance past Int64.max was settled")
            return
        }
        #expect(refusal.check == .outOfRange)
        #expect(ledger.check(Self.transfer(amount: -1)) == .insufficientFunds)
        #expect(try await ledger.settle(Self.transfer(amount: 10)).get().hasPrefix("0x"))
        #expect(try await ledger.transferCount() == 1)
    }

    @Test func aSettlementWhoseWriteFailsIsUndoneAndCanBeSettledLater() async throws {
        let path = Self.path()
        let ledger = try DevLedger(path: path, defaultBalance: 100)
        let transfer = Self.transfer()
        // The file refuses the write (its table is gone): the settlement fails, and nothing of it stays in memory.
        let other = try DatabaseQueue(path: path)
        try await other.write { db in try db.execute(sql: "ALTER TABLE transfer RENAME TO transfer_away") }
        await #expect(throws: DatabaseError.self) { try await ledger.settle(transfer) }
        #expect(ledger.check(transfer) == .ok)
        #expect(ledger.check(Self.transfer(nonce: Self.nonce(3), amount: 100)) == .ok)
        try await other.write { db in try db.execute(sql: "ALTER TABLE transfer_away RENAME TO transfer") }
        #expect(try await ledger.settle(transfer).get().hasPrefix("0x"))
        #expect(try await ledger.transferCount() == 1)
        #expect(ledger.check(Self.transfer(nonce: Self.nonce(3), amount: 100)) == .insufficientFunds)
    }
}
