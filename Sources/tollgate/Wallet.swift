import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TollgateClient
import TollgateCore
import TollgateX402

/// `tollgate wallet`: the paying side's address, balance, budgets and ledger.
struct Wallet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The agent wallet: address, balance, spend against each budget, the ledger of payments, pending payments, abandoning one, export.",
        subcommands: [Address.self, Balance.self, Spend.self, Ledger.self, Pending.self, Abandon.self, Export.self])

    /// Runs `body`, turning a client error into one line on standard error and its exit status.
    static func running(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as ClientError {
            FileHandle.standardError.write(Data("tollgate wallet: \(error.message) [\(error.code.rawValue)]\n".utf8))
            throw ExitCode(error.exitCode)
        }
    }

    struct Address: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the payer's address (never the key).")
        @OptionGroup var wallet: WalletOptions

        func run() async throws {
            try await Wallet.running { print(try PayerKey.load(keyFile: wallet.keyFile).address.checksummed) }
        }
    }

    struct Balance: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The payer's token balance, read from a JSON-RPC node (eth_call balanceOf).")
        @OptionGroup var wallet: WalletOptions
        @Option(help: "The chain's JSON-RPC URL; default $TOLLGATE_RPC_URL.")
        var rpc: String?
        @Option(help: "The network (CAIP-2).")
        var network: String = "eip155:84532"
        @Option(help: "The token contract; default the network's USDC.")
        var asset: String?
        @Option(help: "Seconds to wait for the node.")
        var timeout: Int64 = 15

        func run() async throws {
            try await Wallet.running {
                let payer = try PayerKey.load(keyFile: wallet.keyFile)
                guard let rpc = rpc ?? ProcessInfo.processInfo.environment["TOLLGATE_RPC_URL"], !rpc.isEmpty else {
                    throw ClientError(.invalidRequest, "no RPC URL: pass --rpc URL or set TOLLGATE_RPC_URL")
                }
                let budget = try wallet.budget()
                guard let asset = asset ?? KnownAssets.usdc(network: network) else {
                    throw ClientError(.invalidRequest, "no USDC is known on \(network): pass --asset ADDRESS")
                }
                let atomic = try await TokenBalance.read(rpc: rpc, asset: asset, owner: payer.address.checksummed, timeout: .seconds(timeout))
                let known = budget.knownAssets.asset(network: network, address: asset)
                print("\(payer.address.checksummed) holds \(known.map { atomic.decimalString(decimals: $0.decimals) + " " + $0.symbol } ?? atomic.atomic + " atomic units") "
                      + "of \(asset) on \(network)")
            }
        }
    }

    struct Spend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "What was spent against each limit of the budget (last hour, 24 hours, 30 days).")
        @OptionGroup var wallet: WalletOptions

        func run() async throws {
            try await Wallet.running {
                let ledger = try wallet.ledger()
                let budget = try wallet.budget()
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                print("limit                          spent        of limit")
                for (scope, limits) in budget.allScopes {
                    if let perPayment = limits.perPayment { print(Self.row("per_payment (\(scope))", "-", perPayment.description)) }
                    for window in limits.windows {
                        let spent = try ledger.spent(scope, seconds: window.seconds, nowMillis: now)
                        print(Self.row("\(window.name) (\(scope))", spent.description, window.limit.description))
                    }
                }
            }
        }

        static func row(_ name: String, _ spent: String, _ limit: String) -> String {
            name.padding(toLength: 30, withPad: " ", startingAt: 0) + " " + spent.padding(toLength: 12, withPad: " ", startingAt: 0) + " " + limit
        }
    }

    struct Ledger: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The payments, newest first: what, to whom, how much, how it ended, receipt and transaction.")
        @OptionGroup var wallet: WalletOptions
        @Option(help: "How many.")
        var limit: Int = 50

        func run() async throws {
            try await Wallet.running {
                for purchase in try wallet.ledger().purchases(limit: limit) { print(Self.line(purchase)) }
            }
        }

        static func line(_ purchase: Purchase) -> String {
            let when = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(purchase.createdAtMillis) / 1000))
            let what = purchase.tool.map { "tool \($0) at \(purchase.url)" } ?? "\(purchase.method) \(purchase.url)"
            return "\(when)  \(purchase.id)  \(purchase.state.rawValue)  \(purchase.price) to \(purchase.payee)  \(what)"
                + (purchase.correlationId.map { "  correlation \($0)" } ?? "") + (purchase.transaction.map { "  tx \($0)" } ?? "")
                + (purchase.reason.map { "  (\($0))" } ?? "")
        }
    }

    struct Pending: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Payments signed or sent without a final answer (a crash, a timeout, a lost response, a server still settling).",
            discussion: """
                Run the same `tollgate pay` command again: it sends the same authorization instead of signing another. \
                Nothing new is signed for that request while one is listed here: until its validBefore has passed (and \
                30 s more for clocks), the run sends it and stops if the server does not settle the question; after \
                that, the server is asked once more, and only if it holds nothing for it is a new one signed. One the \
                server never settles the question of can be given up then: tollgate wallet abandon ID.
                """)
        @OptionGroup var wallet: WalletOptions

        func run() async throws {
            try await Wallet.running {
                let pending = try wallet.ledger().pending()
                if pending.isEmpty { print("no pending payment") }
                let now = Int64(Date().timeIntervalSince1970)
                for purchase in pending { print(Ledger.line(purchase) + "  " + Self.standing(purchase, nowSeconds: now)) }
            }
        }

        /// What the next run of its request does with it.
        static func standing(_ purchase: Purchase, nowSeconds now: Int64) -> String {
            if purchase.isResendable(nowSeconds: now) {
                return "re-sendable for \(purchase.validBefore - Purchase.resendMarginSeconds - now) s"
            }
            if purchase.hasExpired(nowSeconds: now) {
                return "expired: it can no longer settle; the next run asks the server once more, and pays anew only if it holds nothing for it "
                    + "(tollgate wallet abandon \(purchase.id) gives it up if the server never says)"
            }
            let free = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(purchase.validBefore + Purchase.expirySkewSeconds)))
            return "may still settle: the next run sends it once more and signs nothing new before \(free)"
        }
    }

    struct Abandon: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give up a pending payment the server never settles the question of, so that its request can be paid anew.",
            discussion: """
                Only once it can no longer settle (its validBefore and 30 s for clocks have passed): before that, the \
                server may still take it, and a new payment would pay twice. It may have been paid with its answer \
                lost, so it keeps counting against the budget; ask the server's operator with its correlation id. \
                It is never sent again; the next run of its request pays anew (the prompt and the budget as ever).
                """)
        @OptionGroup var wallet: WalletOptions
        @Argument(help: "The purchase (pay_…), as `tollgate wallet pending` lists it.")
        var id: String
        @Option(help: "Why, kept in the ledger.")
        var reason: String?

        func run() async throws {
            try await Wallet.running {
                let purchase = try wallet.ledger().abandon(id, reason: reason, nowMillis: Int64(Date().timeIntervalSince1970 * 1000))
                print(Ledger.line(purchase))
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The ledger as CSV or JSON (every column, for accounting or a dispute).")
        @OptionGroup var wallet: WalletOptions
        @Option(help: "csv or json.")
        var format: String = "csv"
        @Option(name: [.customShort("o"), .customLong("output")], help: "Write to this file instead of standard output.")
        var output: String?

        func run() async throws {
            try await Wallet.running {
                let purchases = try wallet.ledger().purchases(limit: .max)
                let text: String
                switch format {
                case "json": text = try LedgerExport.json(purchases)
                case "csv": text = LedgerExport.csv(purchases)
                default: throw ClientError(.invalidRequest, "--format is csv or json, not \(format)")
                }
                if let output {
                    guard FileManager.default.createFile(atPath: output, contents: Data(text.utf8)) else {
                        throw ClientError(.invalidRequest, "cannot write \(output)")
                    }
                } else {
                    print(text, terminator: "")
                }
            }
        }
    }
}

/// A token balance from a JSON-RPC node: `eth_call` of `balanceOf(owner)`.
enum TokenBalance {
    static func read(rpc: String, asset: String, owner: String, timeout: TimeAmount) async throws(ClientError) -> TokenAmount {
        guard let ownerBytes = HexString.decodeAllowingPrefix(owner), ownerBytes.count == 20 else {
            throw ClientError(.invalidRequest, "not an address: \(owner)")
        }
        let data = "0x70a08231" + String(repeating: "0", count: 24) + HexString.encode(ownerBytes)
        let call: JSONValue = .object([
            "jsonrpc": .string("2.0"), "id": .integer(1), "method": .string("eth_call"),
            "params": .array([.object(["to": .string(asset), "data": .string(data)]), .string("latest")]),
        ])
        var request = HTTPClientRequest(url: rpc)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: call.canonicalBytes))
        let answer: JSONValue?
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: timeout)
            answer = JSONValue.parse(Array(buffer: try await response.body.collect(upTo: 1 << 20)))
        } catch {
            throw ClientError(.unreachable, "the RPC node \(shown(rpc)) did not answer: \(error)")
        }
        // A balance is one uint256: 32 bytes at most, whatever a node sends.
        guard let hex = answer?["result"]?.string, hex.utf8.count <= 66, let bytes = HexString.decodeAllowingPrefix(hex), let amount = decimal(bytes) else {
            throw ClientError(.serverRefused, "the RPC node \(shown(rpc)) answered no balance")
        }
        return amount
    }

    /// The node's scheme and host only: hosted RPC URLs carry their API key in the path.
    static func shown(_ rpc: String) -> String { EVMChainReader.shown(rpc) }

    /// A big-endian unsigned integer in decimal.
    static func decimal(_ bytes: [UInt8]) -> TokenAmount? {
        var limbs: [UInt32] = [0]   // base 10^9, least significant first
        for byte in bytes {
            var carry = UInt64(byte)
            for index in limbs.indices {
                let value = UInt64(limbs[index]) * 256 + carry
                limbs[index] = UInt32(value % 1_000_000_000)
                carry = value / 1_000_000_000
            }
            while carry > 0 {
                limbs.append(UInt32(carry % 1_000_000_000))
                carry /= 1_000_000_000
            }
        }
        var text = String(limbs.last!)
        for limb in limbs.dropLast().reversed() { text += String(repeating: "0", count: 9 - String(limb).count) + String(limb) }
        return TokenAmount(atomic: text)
    }
}
