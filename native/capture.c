// Live capture off the JS thread: a native thread drives libpcap (TPACKET_V3 ring, BPF filter,
// nanosecond kernel timestamps) and copies each packet into a ring that JS owns (an ArrayBuffer).
// JS is woken once per batch, reads records in place and hands the space back (see
// src/capture/live.ts). Palisade's own ring drops are counted apart from the kernel's.
//
// Record layout in the ring (host byte order, 16-byte aligned):
//   u32 ts_sec, u32 ts_nsec, u32 caplen, u32 wirelen, then caplen bytes padded to 16.
// caplen 0xFFFFFFFF marks a wrap: the rest of the ring up to its end is skipped.

#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <pcap/pcap.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define REC_HDR 16u
#define WRAP 0xFFFFFFFFu
#define ALIGN16(n) (((n) + 15u) & ~(size_t)15u)
#define STATS_EVERY_MS 100
/** JS is woken at most this often (ns): in immediate mode packets come one by one. */
#define WAKE_GAP_NS 200000u

typedef struct {
  pcap_t *p;
  uint8_t *ring;
  size_t size; // a multiple of 16
  napi_ref ring_ref;
  _Atomic uint64_t w;   // bytes published (monotonic)
  _Atomic uint64_t r;   // bytes handed back by JS (monotonic)
  _Atomic int want_wake;
  uint64_t wlocal;      // capture thread only
  int wrote;            // capture thread only
  _Atomic uint64_t packets, bytes, ring_drops;
  // libpcap's counters are u_int and wrap; these accumulate them (capture thread writes).
  _Atomic uint64_t recv, drop, ifdrop;
  struct pcap_stat last;
  _Atomic int failed;
  char error[PCAP_ERRBUF_SIZE + 128];
  int stopfd;
  pthread_t thread;
  int running;
  napi_threadsafe_function tsfn;
  int closed;
} Cap;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void fail(Cap *c, const char *what, const char *why) {
  if (atomic_load(&c->failed)) return;
  snprintf(c->error, sizeof c->error, "%s: %s", what, why);
  atomic_store(&c->failed, 1);
}

static void on_packet(u_char *u, const struct pcap_pkthdr *h, const u_char *bytes) {
  Cap *c = (Cap *)u;
  uint32_t cap = h->caplen;
  size_t need = REC_HDR + ALIGN16((size_t)cap);
  uint64_t w = c->wlocal;
  uint64_t r = atomic_load_explicit(&c->r, memory_order_acquire);
  size_t off = (size_t)(w % c->size);
  size_t tail = c->size - off;
  size_t skip = tail < need ? tail : 0;
  if (need > c->size || w + skip + need - r > c->size) {
    atomic_fetch_add_explicit(&c->ring_drops, 1, memory_order_relaxed);
    return;
  }
  if (skip) {
    uint32_t *m = (uint32_t *)(c->ring + off);
    m[0] = m[1] = m[3] = 0;
    m[2] = WRAP;
    w += skip;
    off = 0;
  }
  uint32_t *hd = (uint32_t *)(c->ring + off);
  hd[0] = (uint32_t)h->ts.tv_sec;
  hd[1] = (uint32_t)h->ts.tv_usec; // nanoseconds: the handle is opened with nanosecond precision
  hd[2] = cap;
  hd[3] = h->len;
  memcpy(c->ring + off + REC_HDR, bytes, cap);
  c->wlocal = w + need;
  c->wrote = 1;
  atomic_fetch_add_explicit(&c->packets, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&c->bytes, cap, memory_order_relaxed);
}

static void read_stats(Cap *c) {
  struct pcap_stat s;
  if (pcap_stats(c->p, &s) != 0) return;
  atomic_fetch_add(&c->recv, (uint32_t)(s.ps_recv - c->last.ps_recv));
  atomic_fetch_add(&c->drop, (uint32_t)(s.ps_drop - c->last.ps_drop));
  atomic_fetch_add(&c->ifdrop, (uint32_t)(s.ps_ifdrop - c->last.ps_ifdrop));
  c->last = s;
}

static void wake(Cap *c) {
  if (atomic_exchange(&c->want_wake, 0)) napi_call_threadsafe_function(c->tsfn, NULL, napi_tsfn_nonblocking);
}

static void *capture_loop(void *arg) {
  Cap *c = (Cap *)arg;
  struct pollfd fds[2] = {{pcap_get_selectable_fd(c->p), POLLIN, 0}, {c->stopfd, POLLIN, 0}};
  uint64_t next_stats = 0, last_wake = 0;
  int wake_due = 0; // records published since the last wake, held back by WAKE_GAP_NS
  for (;;) {
    struct timespec tmo = {0, STATS_EVERY_MS * 1000000L};
    if (wake_due) {
      uint64_t since = now_ns() - last_wake;
      tmo.tv_nsec = since >= WAKE_GAP_NS ? 0 : (long)(WAKE_GAP_NS - since);
    }
    int n = ppoll(fds, 2, &tmo, NULL);
    if (n < 0 && errno != EINTR) {
      fail(c, "poll", strerror(errno));
      break;
    }
    if (fds[1].revents) break;
    for (int i = 0; i < 1024; i++) {
      int k = pcap_dispatch(c->p, -1, on_packet, (u_char *)c);
      if (k < 0) {
        fail(c, "capture", pcap_geterr(c->p));
        break;
      }
      if (k == 0) break;
      // Publish between ring blocks, so JS can start on a long burst before it ends.
      if (c->wrote) atomic_store_explicit(&c->w, c->wlocal, memory_order_release);
    }
    if (c->wrote) {
      c->wrote = 0;
      atomic_store_explicit(&c->w, c->wlocal, memory_order_release);
      wake_due = 1;
    }
    uint64_t t = now_ns();
    if (wake_due && t - last_wake >= WAKE_GAP_NS) {
      wake(c);
      last_wake = t;
      wake_due = 0;
    }
    if (atomic_load(&c->failed)) break;
    if (t >= next_stats) {
      read_stats(c);
      next_stats = t + STATS_EVERY_MS * 1000000ull;
    }
  }
  read_stats(c);
  if (c->wrote) atomic_store_explicit(&c->w, c->wlocal, memory_order_release);
  atomic_store(&c->want_wake, 1);
  wake(c); // a failure, or the last records, reach JS
  return NULL;
}

// ---- N-API glue ------------------------------------------------------------------------------

#define CHECK(call)                                                                                                    \
  do {                                                                                                                 \
    if ((call) != napi_ok) {                                                                                           \
      napi_throw_error(env, "PAL_ERR_INTERNAL", "capture addon: " #call " failed");                                     \
      return NULL;                                                                                                     \
    }                                                                                                                  \
  } while (0)

static napi_value throw_code(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

static void stop_thread(Cap *c) {
  if (!c->running) return;
  uint64_t one = 1;
  ssize_t rc = write(c->stopfd, &one, sizeof one);
  (void)rc;
  pthread_join(c->thread, NULL);
  c->running = 0;
}

static void cap_free(napi_env env, void *data, void *hint) {
  (void)hint;
  Cap *c = (Cap *)data;
  stop_thread(c);
  if (c->tsfn) napi_release_threadsafe_function(c->tsfn, napi_tsfn_abort);
  if (c->p) pcap_close(c->p);
  if (c->stopfd >= 0) close(c->stopfd);
  if (c->ring_ref) napi_delete_reference(env, c->ring_ref);
  free(c);
}

static Cap *unwrap(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || !data) {
    napi_throw_type_error(env, "PAL_ERR_INTERNAL", "capture addon: not a capture handle");
    return NULL;
  }
  return (Cap *)data;
}

static int get_prop(napi_env env, napi_value o, const char *k, napi_value *out) {
  bool has = false;
  if (napi_has_named_property(env, o, k, &has) != napi_ok || !has) return 0;
  return napi_get_named_property(env, o, k, out) == napi_ok;
}

static int32_t get_int(napi_env env, napi_value o, const char *k, int32_t dflt) {
  napi_value v;
  int32_t n = dflt;
  if (get_prop(env, o, k, &v)) napi_get_value_int32(env, v, &n);
  return n;
}

static void get_str(napi_env env, napi_value o, const char *k, char *buf, size_t len) {
  napi_value v;
  size_t got = 0;
  buf[0] = 0;
  if (get_prop(env, o, k, &v)) napi_get_value_string_utf8(env, v, buf, len, &got);
}

// open({ device, filter, snaplen, bufferSize, promiscuous, timeoutMs, ring: ArrayBuffer })
//   -> { handle, linktype, warning }
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], ringv;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) return throw_code(env, "PAL_ERR_INTERNAL", "capture addon: open needs options");
  char device[256], filter[8192], err[PCAP_ERRBUF_SIZE + 512], warning[PCAP_ERRBUF_SIZE + 64] = "";
  get_str(env, argv[0], "device", device, sizeof device);
  get_str(env, argv[0], "filter", filter, sizeof filter);
  int32_t snaplen = get_int(env, argv[0], "snaplen", 262144);
  int32_t bufsize = get_int(env, argv[0], "bufferSize", 0);
  int32_t promisc = get_int(env, argv[0], "promiscuous", 1);
  int32_t timeout = get_int(env, argv[0], "timeoutMs", 1);
  void *ring = NULL;
  size_t ring_len = 0;
  if (!get_prop(env, argv[0], "ring", &ringv) || napi_get_arraybuffer_info(env, ringv, &ring, &ring_len) != napi_ok ||
      ring_len < 65536 || ring_len % 16 != 0)
    return throw_code(env, "PAL_ERR_INTERNAL", "capture addon: ring must be an ArrayBuffer of at least 64 KiB, a multiple of 16");

  char ebuf[PCAP_ERRBUF_SIZE] = "";
  pcap_t *p = pcap_create(device, ebuf);
  if (!p) {
    snprintf(err, sizeof err, "%s", ebuf);
    return throw_code(env, "PAL_ERR_LIVE_OPEN", err);
  }
  pcap_set_snaplen(p, snaplen);
  pcap_set_promisc(p, promisc);
  if (bufsize > 0) pcap_set_buffer_size(p, bufsize);
  if (timeout <= 0) pcap_set_immediate_mode(p, 1);
  else pcap_set_timeout(p, timeout);
  pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
  int rc = pcap_activate(p);
  if (rc < 0) {
    snprintf(err, sizeof err, "%s", rc == PCAP_ERROR ? pcap_geterr(p) : pcap_statustostr(rc));
    if (rc == PCAP_ERROR_PERM_DENIED && strlen(pcap_geterr(p)) > 0) snprintf(err, sizeof err, "%s", pcap_geterr(p));
    pcap_close(p);
    return throw_code(env, "PAL_ERR_LIVE_OPEN", err);
  }
  if (rc > 0) snprintf(warning, sizeof warning, "%s", rc == PCAP_WARNING ? pcap_geterr(p) : pcap_statustostr(rc));
  if (pcap_get_tstamp_precision(p) != PCAP_TSTAMP_PRECISION_NANO && !warning[0])
    snprintf(warning, sizeof warning, "nanosecond timestamps unavailable: microseconds kept");
  if (filter[0]) {
    struct bpf_program prog;
    bpf_u_int32 net = 0, mask = PCAP_NETMASK_UNKNOWN;
    if (pcap_lookupnet(device, &net, &mask, ebuf) != 0) mask = PCAP_NETMASK_UNKNOWN;
    if (pcap_compile(p, &prog, filter, 1, mask) != 0) {
      snprintf(err, sizeof err, "%s", pcap_geterr(p));
      pcap_close(p);
      return throw_code(env, "PAL_ERR_LIVE_FILTER", err);
    }
    rc = pcap_setfilter(p, &prog);
    pcap_freecode(&prog);
    if (rc != 0) {
      snprintf(err, sizeof err, "%s", pcap_geterr(p));
      pcap_close(p);
      return throw_code(env, "PAL_ERR_LIVE_FILTER", err);
    }
  }
  if (pcap_setnonblock(p, 1, ebuf) != 0) {
    snprintf(err, sizeof err, "%s", ebuf);
    pcap_close(p);
    return throw_code(env, "PAL_ERR_LIVE_OPEN", err);
  }
  Cap *c = calloc(1, sizeof *c);
  if (!c) {
    pcap_close(p);
    return throw_code(env, "PAL_ERR_INTERNAL", "capture addon: out of memory");
  }
  c->p = p;
  c->ring = ring;
  c->size = ring_len;
  c->stopfd = eventfd(0, EFD_CLOEXEC);
  if (c->stopfd < 0 || napi_create_reference(env, ringv, 1, &c->ring_ref) != napi_ok) {
    snprintf(err, sizeof err, "eventfd: %s", strerror(errno));
    cap_free(env, c, NULL);
    return throw_code(env, "PAL_ERR_LIVE_OPEN", err);
  }
  napi_value out, handle, v;
  CHECK(napi_create_object(env, &out));
  CHECK(napi_create_external(env, c, cap_free, NULL, &handle));
  CHECK(napi_set_named_property(env, out, "handle", handle));
  CHECK(napi_create_int32(env, pcap_datalink(p), &v));
  CHECK(napi_set_named_property(env, out, "linktype", v));
  CHECK(napi_create_string_utf8(env, warning, NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, out, "warning", v));
  return out;
}

static void call_wake(napi_env env, napi_value fn, void *context, void *data) {
  (void)context;
  (void)data;
  if (!env || !fn) return;
  napi_value undef;
  napi_get_undefined(env, &undef);
  napi_call_function(env, undef, fn, 0, NULL, NULL);
}

// start(handle, wake): starts the capture thread; wake() runs on the JS thread when records wait.
static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], name;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Cap *c = unwrap(env, argv[0]);
  if (!c) return NULL;
  if (c->running || c->closed) return throw_code(env, "PAL_ERR_INTERNAL", "capture addon: already started");
  CHECK(napi_create_string_utf8(env, "palisade-capture", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, NULL, NULL, NULL, call_wake, &c->tsfn));
  atomic_store(&c->want_wake, 1);
  if (pthread_create(&c->thread, NULL, capture_loop, c) != 0) {
    napi_release_threadsafe_function(c->tsfn, napi_tsfn_abort);
    c->tsfn = NULL;
    return throw_code(env, "PAL_ERR_LIVE_OPEN", "cannot start the capture thread");
  }
  pthread_setname_np(c->thread, "pal-capture"); // what top -H and /proc/PID/task show
  c->running = 1;
  return NULL;
}

static napi_value num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

static Cap *arg_cap(napi_env env, napi_callback_info info, napi_value *argv, size_t n) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return NULL;
  return unwrap(env, argv[0]);
}

// avail(handle) -> bytes published so far (monotonic).
static napi_value js_avail(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Cap *c = arg_cap(env, info, argv, 1);
  if (!c) return NULL;
  return num(env, (double)atomic_load_explicit(&c->w, memory_order_acquire));
}

// release(handle, r): JS is done with every byte before r.
static napi_value js_release(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Cap *c = arg_cap(env, info, argv, 2);
  if (!c) return NULL;
  double r = 0;
  napi_get_value_double(env, argv[1], &r);
  atomic_store_explicit(&c->r, (uint64_t)r, memory_order_release);
  return NULL;
}

// idle(handle) -> bytes published: JS has drained and wants the next wake.
static napi_value js_idle(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Cap *c = arg_cap(env, info, argv, 1);
  if (!c) return NULL;
  atomic_store(&c->want_wake, 1);
  return num(env, (double)atomic_load_explicit(&c->w, memory_order_acquire));
}

static void set_num(napi_env env, napi_value o, const char *k, double d) {
  napi_set_named_property(env, o, k, num(env, d));
}

// stats(handle) -> { packets, bytes, ringDrops, recv, drop, ifdrop, error }
static napi_value js_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1], o, e;
  Cap *c = arg_cap(env, info, argv, 1);
  if (!c) return NULL;
  CHECK(napi_create_object(env, &o));
  set_num(env, o, "packets", (double)atomic_load(&c->packets));
  set_num(env, o, "bytes", (double)atomic_load(&c->bytes));
  set_num(env, o, "ringDrops", (double)atomic_load(&c->ring_drops));
  set_num(env, o, "recv", (double)atomic_load(&c->recv));
  set_num(env, o, "drop", (double)atomic_load(&c->drop));
  set_num(env, o, "ifdrop", (double)atomic_load(&c->ifdrop));
  if (atomic_load(&c->failed)) CHECK(napi_create_string_utf8(env, c->error, NAPI_AUTO_LENGTH, &e));
  else CHECK(napi_get_null(env, &e));
  CHECK(napi_set_named_property(env, o, "error", e));
  return o;
}

// stop(handle): the thread ends (at once: it waits on an eventfd beside the capture socket), its
// last records and counters are published, and the wake function is released, so no handle
// keeps the event loop alive. The pcap handle stays open for inject() until close().
static napi_value js_stop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Cap *c = arg_cap(env, info, argv, 1);
  if (!c) return NULL;
  stop_thread(c);
  if (c->tsfn) {
    napi_release_threadsafe_function(c->tsfn, napi_tsfn_abort);
    c->tsfn = NULL;
  }
  return NULL;
}

// close(handle): stop(), then the capture socket is closed.
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Cap *c = arg_cap(env, info, argv, 1);
  if (!c) return NULL;
  js_stop(env, info);
  if (c->p) {
    pcap_close(c->p);
    c->p = NULL;
  }
  c->closed = 1;
  return NULL;
}

// inject(handle, buffer) -> bytes sent; throws PAL_ERR_LIVE_INJECT.
static napi_value js_inject(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Cap *c = arg_cap(env, info, argv, 2);
  if (!c) return NULL;
  if (!c->p) return throw_code(env, "PAL_ERR_LIVE_INJECT", "the capture is closed");
  void *data = NULL;
  size_t len = 0;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok)
    return throw_code(env, "PAL_ERR_INTERNAL", "capture addon: inject needs a Buffer");
  int n = pcap_inject(c->p, data, len);
  if (n < 0) return throw_code(env, "PAL_ERR_LIVE_INJECT", pcap_geterr(c->p));
  return num(env, n);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"avail", NULL, js_avail, NULL, NULL, NULL, napi_default, NULL},
      {"release", NULL, js_release, NULL, NULL, NULL, napi_default, NULL},
      {"idle", NULL, js_idle, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
      {"stop", NULL, js_stop, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"inject", NULL, js_inject, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
