// Driver that runs hnswlib over the vectors `duet bench ann --hnswlib`
// writes, so that Duet's HNSW can be compared with it on the same data in
// the same run. It uses only hnswlib's public header (Debian package
// libhnswlib-dev).
//
// Build: g++ -O3 -march=native -std=c++17 -pthread -o hnswlib-driver driver.cpp
//
// Usage: hnswlib-driver BASE.fvecs QUERIES.fvecs M EF_CONSTRUCTION K EF[,EF...] THREADS [REPEAT [INDEX]]
//
// The vectors must be unit length: the inner-product space then ranks as
// cosine similarity, as Duet's indexes do. The build uses THREADS threads;
// queries run on one, REPEAT times (default 1) at each width, and the
// fastest pass is reported. Given INDEX, the graph is loaded from that file
// when it exists (build_s is then the load time) and saved to it after a
// build, so that repeated runs on the same data skip the build. Output, all
// text on stdout:
//
//	build_s SECONDS
//	bytes_per_vector BYTES
//	peak_bytes_per_vector BYTES
//	ef EF qps QPS
//	LABEL LABEL ... (K labels, nearest first, one line per query)
//	ef EF qps QPS
//	...
//	resident_bytes_per_vector BYTES
//
// bytes_per_vector is the size of the index's arrays; the other two are
// what the index added to the process's resident memory at its highest
// during the build or load, and after the searches (0 where /proc does not
// tell).
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

// readFvecs reads a file of (int32 dimension, dimension float32s) records,
// all of one dimension.
std::vector<float> readFvecs(const char *path, size_t *dim) {
    FILE *f = std::fopen(path, "rb");
    if (f == nullptr) {
        throw std::runtime_error(std::string("open ") + path);
    }
    std::vector<float> out;
    *dim = 0;
    for (;;) {
        int32_t d;
        if (std::fread(&d, sizeof d, 1, f) != 1) {
            break;
        }
        if (d <= 0 || (*dim != 0 && size_t(d) != *dim)) {
            std::fclose(f);
            throw std::runtime_error(std::string("bad dimension in ") + path);
        }
        *dim = size_t(d);
        size_t at = out.size();
        out.resize(at + *dim);
        if (std::fread(out.data() + at, sizeof(float), *dim, f) != *dim) {
            std::fclose(f);
            throw std::runtime_error(std::string("truncated ") + path);
        }
    }
    std::fclose(f);
    if (out.empty()) {
        throw std::runtime_error(std::string("no vectors in ") + path);
    }
    return out;
}

std::vector<size_t> parseList(const char *s) {
    std::vector<size_t> out;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, ',')) {
        out.push_back(std::stoul(item));
    }
    return out;
}

// statusBytes returns a kB line of /proc/self/status in bytes, or 0.
long long statusBytes(const char *key) {
    FILE *f = std::fopen("/proc/self/status", "r");
    if (f == nullptr) {
        return 0;
    }
    char line[256];
    long long kb = 0;
    size_t n = std::strlen(key);
    while (std::fgets(line, sizeof line, f) != nullptr) {
        if (std::strncmp(line, key, n) == 0) {
            kb = std::atoll(line + n);
            break;
        }
    }
    std::fclose(f);
    return kb * 1024;
}

// resetPeak starts VmHWM over from the resident memory now.
bool resetPeak() {
    FILE *f = std::fopen("/proc/self/clear_refs", "w");
    if (f == nullptr) {
        return false;
    }
    bool ok = std::fputs("5", f) >= 0;
    return std::fclose(f) == 0 && ok;
}

double since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 8 || argc > 10) {
        std::fprintf(stderr, "usage: %s BASE.fvecs QUERIES.fvecs M EF_CONSTRUCTION K EF[,EF...] THREADS [REPEAT [INDEX]]\n", argv[0]);
        return 2;
    }
    try {
        size_t dim = 0, qdim = 0;
        std::vector<float> base = readFvecs(argv[1], &dim);
        std::vector<float> queries = readFvecs(argv[2], &qdim);
        if (dim != qdim) {
            throw std::runtime_error("base and queries differ in dimension");
        }
        size_t n = base.size() / dim, nq = queries.size() / dim;
        size_t m = std::stoul(argv[3]), efc = std::stoul(argv[4]), k = std::stoul(argv[5]);
        std::vector<size_t> efs = parseList(argv[6]);
        size_t threads = std::max<size_t>(1, std::stoul(argv[7]));
        size_t repeat = argc >= 9 ? std::max<size_t>(1, std::stoul(argv[8])) : 1;
        const char *saved = argc == 10 ? argv[9] : nullptr;

        long long rss0 = statusBytes("VmRSS:");
        bool peakOK = rss0 > 0 && resetPeak();
        auto perVector = [&](long long bytes) { return bytes > rss0 ? double(bytes - rss0) / double(n) : 0.0; };

        hnswlib::InnerProductSpace space(dim);
        auto start = std::chrono::steady_clock::now();
        FILE *probe = saved != nullptr ? std::fopen(saved, "rb") : nullptr;
        if (probe != nullptr) {
            std::fclose(probe);
        }
        std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph(probe != nullptr
            ? new hnswlib::HierarchicalNSW<float>(&space, std::string(saved))
            : new hnswlib::HierarchicalNSW<float>(&space, n, m, efc));
        hnswlib::HierarchicalNSW<float> &index = *graph;
        if (probe != nullptr && index.cur_element_count != n) {
            throw std::runtime_error(std::string(saved) + " holds another number of vectors");
        }
        if (probe == nullptr) {
            // The first point goes in alone: it becomes the entry point,
            // which concurrent first inserts would race for.
            index.addPoint(base.data(), 0);
            std::atomic<size_t> next{1};
            std::vector<std::thread> pool;
            for (size_t t = 0; t < threads; t++) {
                pool.emplace_back([&] {
                    for (size_t i; (i = next.fetch_add(1)) < n;) {
                        index.addPoint(base.data() + i * dim, i);
                    }
                });
            }
            for (auto &t : pool) {
                t.join();
            }
        }
        std::printf("build_s %.3f\n", since(start));
        if (probe == nullptr && saved != nullptr) {
            index.saveIndex(saved);
        }

        // Vector, level-0 list and label per element, plus the upper lists.
        size_t bytes = n * index.size_data_per_element_;
        for (size_t i = 0; i < n; i++) {
            bytes += size_t(index.element_levels_[i]) * index.size_links_per_element_;
        }
        std::printf("bytes_per_vector %.0f\n", double(bytes) / double(n));
        std::printf("peak_bytes_per_vector %.0f\n", peakOK ? perVector(statusBytes("VmHWM:")) : 0.0);

        std::vector<hnswlib::labeltype> labels(nq * k);
        for (size_t ef : efs) {
            index.setEf(ef);
            double secs = 0;
            for (size_t r = 0; r < repeat; r++) {
                std::fill(labels.begin(), labels.end(), hnswlib::labeltype(-1));
                start = std::chrono::steady_clock::now();
                for (size_t q = 0; q < nq; q++) {
                    auto res = index.searchKnn(queries.data() + q * dim, k);
                    // The queue pops farthest first.
                    for (size_t j = res.size(); j > 0; j--) {
                        labels[q * k + j - 1] = res.top().second;
                        res.pop();
                    }
                }
                double s = since(start);
                secs = r == 0 ? s : std::min(secs, s);
            }
            std::printf("ef %zu qps %.1f\n", ef, double(nq) / secs);
            for (size_t q = 0; q < nq; q++) {
                for (size_t j = 0; j < k; j++) {
                    std::printf(j ? " %lld" : "%lld", (long long)(int64_t)labels[q * k + j]);
                }
                std::printf("\n");
            }
        }
        std::printf("resident_bytes_per_vector %.0f\n", rss0 > 0 ? perVector(statusBytes("VmRSS:")) : 0.0);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "hnswlib-driver: %s\n", e.what());
        return 1;
    }
    return 0;
}
