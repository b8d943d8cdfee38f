import CKernels
import XCTest

/// Every dispatched model kernel against its scalar reference, on lengths that exercise both the
/// vector body and the scalar tail, and on inputs reaching exp's clamping range.
final class ModelKernelTests: XCTestCase {
    var rng = SystemRandomNumberGenerator()
    let lengths = [1, 7, 8, 15, 16, 17, 64, 100, 576]

    func random(_ n: Int, scale: Float = 3) -> [Float] {
        (0..<n).map { _ in Float.random(in: -scale...scale, using: &rng) }
    }

    func assertClose(_ a: [Float], _ b: [Float], relative: Float, absolute: Float = 1e-6,
                     _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, message, file: file, line: line)
        for (x, y) in zip(a, b) where abs(x - y) > absolute + relative * abs(y) {
            XCTFail("\(message): \(x) vs reference \(y)", file: file, line: line)
            return
        }
    }

    func testSIMDLevelIsKnown() {
        XCTAssertTrue((0...2).contains(ck_simd_level()))
    }

    func testRMSNorm() {
        for n in lengths {
            for addOne: Int32 in [0, 1] {
                let rows = 3
                let x = random(rows * n), w = random(n, scale: 1.5)
                var fast = [Float](repeating: 0, count: rows * n), slow = fast
                mk_rmsnorm(x, n, w, &fast, n, rows, n, 1e-6, addOne)
                mk_rmsnorm_scalar(x, n, w, &slow, n, rows, n, 1e-6, addOne)
                assertClose(fast, slow, relative: 2e-6, "rmsnorm n=\(n) addOne=\(addOne)")
            }
        }
        // A known value: x = [3, 4], mean square 12.5, w = 1.
        var out: [Float] = [0, 0]
        mk_rmsnorm([3, 4], 2, [1, 1], &out, 2, 1, 2, 0, 0)
        XCTAssertEqual(out[0], 3 / Float(12.5).squareRoot(), accuracy: 1e-6)
    }

    func testRoPE() {
        for headDim in [2, 16, 24, 64, 128] {
            let heads = 3, half = headDim / 2
            let x = random(heads * headDim)
            let angles = random(half, scale: 10)
            let c = angles.map(cos), s = angles.map(sin)
            var fast = x, slow = x
            mk_rope(&fast, heads, headDim, c, s)
            mk_rope_scalar(&slow, heads, headDim, c, s)
            assertClose(fast, slow, relative: 1e-6, absolute: 1e-6, "rope head_dim=\(headDim)")
            // Rotation preserves each pair's norm.
            XCTAssertEqual(fast[0] * fast[0] + fast[half] * fast[half], x[0] * x[0] + x[half] * x[half], accuracy: 1e-4)
        }
    }

    func testSoftmax() {
        for n in lengths {
            var fast = random(n, scale: 30), slow = fast
            mk_softmax(&fast, n)
            mk_softmax_scalar(&slow, n)
            assertClose(fast, slow, relative: 1e-5, absolute: 1e-9, "softmax n=\(n)")
            XCTAssertEqual(fast.reduce(0, +), 1, accuracy: 1e-5)
        }
        var extreme: [Float] = [-1000, 0, 1000, 999]
        mk_softmax(&extreme, 4)
        XCTAssertEqual(extreme[2], 1 / (1 + exp(-1)), accuracy: 1e-6)
        XCTAssertEqual(extreme[0], 0)
    }

    func testActivations() {
        for n in lengths {
            for scale: Float in [3, 100] {
                let gate = random(n, scale: scale), up = random(n)
                var fast = [Float](repeating: 0, count: n), slow = fast
                mk_silu_mul(gate, up, &fast, n)
                mk_silu_mul_scalar(gate, up, &slow, n)
                assertClose(fast, slow, relative: 1e-6, absolute: 1e-6, "silu n=\(n)")
                mk_gelu_tanh_mul(gate, up, &fast, n)
                mk_gelu_tanh_mul_scalar(gate, up, &slow, n)
                assertClose(fast, slow, relative: 2e-6, absolute: 1e-6, "gelu_tanh n=\(n)")
            }
        }
        // Known values: silu(1) = 1/(1+e^-1); gelu_tanh(1) = 0.8411920; gelu(1) = 0.8413447.
        var out: [Float] = [0]
        mk_silu_mul([1], [2], &out, 1)
        XCTAssertEqual(out[0], 2 / (1 + exp(-1)), accuracy: 1e-6)
        mk_gelu_tanh_mul([1], [1], &out, 1)
        XCTAssertEqual(out[0], 0.8411920, accuracy: 1e-6)
        mk_gelu_mul([1], [1], &out, 1)
        XCTAssertEqual(out[0], 0.8413447, accuracy: 1e-6)
    }

    func testAdd() {
        for n in lengths {
            let x = random(n)
            var fast = random(n), slow = fast
            mk_add(&fast, x, n)
            mk_add_scalar(&slow, x, n)
            XCTAssertEqual(fast, slow)
        }
    }

    func testAttendOneQuery() {
        for headDim in [8, 24, 64, 128, 256, 6] {
            for n in [1, 3, 4, 5, 33, 130] {
                let q = random(headDim), k = random(n * headDim), v = random(n * headDim)
                var scratch = [Float](repeating: 0, count: n)
                var fast = [Float](repeating: 0, count: headDim), slow = fast
                let scale = 1 / Float(headDim).squareRoot()
                mk_attend(q, k, v, n, headDim, scale, &scratch, &fast)
                mk_attend_scalar(q, k, v, n, headDim, scale, &scratch, &slow)
                assertClose(fast, slow, relative: 1e-5, absolute: 1e-5, "attend d=\(headDim) n=\(n)")
                if n == 1 { assertClose(fast, v, relative: 1e-6, "one key returns its value") }
            }
        }
    }
}
