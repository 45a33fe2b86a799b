/*
 * Misuse of the C ABI, with no GPU work: null and forged handles, double frees, wrong-kind
 * handles, wrong sizes, bad params, bad paths, bad buffers and descriptors, and handles used
 * from several threads at once. Every call must return its error code and a message, never
 * crash; CI runs this under valgrind. Usage: test_misuse REPO_ROOT (for models/demo/).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"

static const char *g_root;

static void test_basics(void) {
    CHECK((x2e_api_version() >> 16) == (X2E_API_VERSION >> 16), "api version %#x", x2e_api_version());
    CHECK(x2e_last_error() != NULL && x2e_last_error()[0] == 0, "fresh thread has a message");
    CHECK(strcmp(x2e_status_name(X2E_ERR_BUSY), "X2E_ERR_BUSY") == 0, "status name");
    CHECK(strcmp(x2e_status_name(1234), "unknown x2e_status") == 0, "unknown status name");
}

static void test_params(void) {
    x2e_edit_params p;
    EXPECT_STATUS(x2e_edit_params_init(NULL, sizeof p), X2E_ERR_INVALID_ARGUMENT, "NULL");
    EXPECT_STATUS(x2e_edit_params_init(&p, 2), X2E_ERR_INVALID_ARGUMENT, "struct_size");
    EXPECT_STATUS(x2e_edit_params_init(&p, 1 << 20), X2E_ERR_INVALID_ARGUMENT, "struct_size");
    EXPECT_OK(x2e_edit_params_init(&p, sizeof p));
    CHECK(p.struct_size == sizeof p && p.task == X2E_TASK_AUTO && p.guidance == 3.5f && p.steps == 0 && p.prompt == NULL,
          "defaults: size %u task %d guidance %f", p.struct_size, p.task, p.guidance);

    /* A program built against an older, shorter struct: init writes only what it has. */
    memset(&p, 0xAB, sizeof p);
    EXPECT_OK(x2e_edit_params_init(&p, offsetof(x2e_edit_params, seed)));
    CHECK(p.struct_size == offsetof(x2e_edit_params, seed), "short struct_size %u", p.struct_size);
    CHECK(p.seed == 0xABABABABABABABABull, "init wrote past the caller's struct");

    x2e_context_params cp;
    EXPECT_OK(x2e_context_params_init(&cp, sizeof cp));
    CHECK(cp.precision == X2E_PRECISION_AUTO && cp.adapter == NULL && cp.max_binding == 0, "context defaults");
    x2e_model_params mp;
    EXPECT_OK(x2e_model_params_init(&mp, sizeof mp));
    CHECK(mp.model_dir == NULL && mp.transformer == NULL, "model defaults");

    /* Out-of-range values are refused before any GPU work. */
    x2e_context *ctx = (x2e_context *)0x1;
    cp.precision = 7;
    EXPECT_STATUS(x2e_context_new(&cp, &ctx), X2E_ERR_INVALID_ARGUMENT, "precision");
    CHECK(ctx == NULL, "failed new leaves NULL");
    EXPECT_STATUS(x2e_context_new(NULL, NULL), X2E_ERR_INVALID_ARGUMENT, "out_ctx");
}

static void test_images(void) {
    /* 3x2 RGBA with 4 bytes of row padding. */
    uint8_t px[2 * 16];
    for (int i = 0; i < (int)sizeof px; i++) px[i] = (uint8_t)i;
    x2e_image *img = (x2e_image *)0x1;
    EXPECT_STATUS(x2e_image_new(3, 2, X2E_FORMAT_RGBA8, px, 16, 27, &img), X2E_ERR_INVALID_ARGUMENT, "too small");
    CHECK(img == NULL, "failed new leaves NULL");
    EXPECT_STATUS(x2e_image_new(3, 2, X2E_FORMAT_RGBA8, px, 8, sizeof px, &img), X2E_ERR_INVALID_ARGUMENT, "stride");
    EXPECT_STATUS(x2e_image_new(0, 2, X2E_FORMAT_RGBA8, px, 0, sizeof px, &img), X2E_ERR_INVALID_ARGUMENT, "outside");
    EXPECT_STATUS(x2e_image_new(20000, 2, X2E_FORMAT_RGBA8, px, 0, sizeof px, &img), X2E_ERR_INVALID_ARGUMENT, "outside");
    EXPECT_STATUS(x2e_image_new(3, 2, 5, px, 0, sizeof px, &img), X2E_ERR_INVALID_ARGUMENT, "x2e_pixel_format");
    EXPECT_STATUS(x2e_image_new(3, 2, X2E_FORMAT_RGBA8, NULL, 16, sizeof px, &img), X2E_ERR_INVALID_ARGUMENT, "pixels");
    EXPECT_STATUS(x2e_image_new(3, 2, X2E_FORMAT_RGBA8, px, 16, sizeof px, NULL), X2E_ERR_INVALID_ARGUMENT, "out_image");
    EXPECT_OK(x2e_image_new(3, 2, X2E_FORMAT_RGBA8, px, 16, 28, &img));

    uint32_t w = 0, h = 0;
    int32_t f = 0;
    EXPECT_OK(x2e_image_info(img, &w, &h, &f));
    CHECK(w == 3 && h == 2 && f == X2E_FORMAT_RGBA8, "info %ux%u format %d", w, h, f);
    EXPECT_OK(x2e_image_info(img, NULL, NULL, NULL));

    uint8_t rgb[18], rgba[24];
    EXPECT_OK(x2e_image_read(img, X2E_FORMAT_RGB8, rgb, 0, sizeof rgb));
    CHECK(rgb[0] == 0 && rgb[3] == 4 && rgb[9] == 16 && rgb[17] == 26, "RGB read drops alpha, skips padding");
    EXPECT_OK(x2e_image_read(img, X2E_FORMAT_RGBA8, rgba, 0, sizeof rgba));
    CHECK(memcmp(rgba, px, 12) == 0 && memcmp(rgba + 12, px + 16, 12) == 0, "RGBA round trip");
    EXPECT_STATUS(x2e_image_read(img, X2E_FORMAT_RGBA8, rgba, 0, sizeof rgba - 1), X2E_ERR_INVALID_ARGUMENT, "too small");
    EXPECT_STATUS(x2e_image_read(img, X2E_FORMAT_RGBA8, NULL, 0, sizeof rgba), X2E_ERR_INVALID_ARGUMENT, "dst");

    /* RGB source read as RGBA gets opaque alpha. */
    x2e_image *rgb_img = NULL;
    EXPECT_OK(x2e_image_new(3, 2, X2E_FORMAT_RGB8, rgb, 0, sizeof rgb, &rgb_img));
    EXPECT_OK(x2e_image_read(rgb_img, X2E_FORMAT_RGBA8, rgba, 0, sizeof rgba));
    CHECK(rgba[3] == 255 && rgba[23] == 255 && rgba[4] == 4, "RGB -> RGBA alpha 255");
    EXPECT_OK(x2e_image_free(rgb_img));

    /* Double free, use after free, wrong kinds, forged handles, NULL. */
    EXPECT_OK(x2e_image_free(img));
    EXPECT_STATUS(x2e_image_free(img), X2E_ERR_INVALID_HANDLE, "already freed");
    EXPECT_STATUS(x2e_image_info(img, &w, &h, &f), X2E_ERR_INVALID_HANDLE, "x2e_image");
    EXPECT_STATUS(x2e_image_read(img, X2E_FORMAT_RGB8, rgb, 0, sizeof rgb), X2E_ERR_INVALID_HANDLE, "x2e_image");
    EXPECT_OK(x2e_image_free(NULL));
    EXPECT_STATUS(x2e_image_info(NULL, &w, &h, &f), X2E_ERR_INVALID_ARGUMENT, "NULL");
    int on_stack = 42;
    EXPECT_STATUS(x2e_image_free((x2e_image *)&on_stack), X2E_ERR_INVALID_HANDLE, "not a live");
    CHECK(on_stack == 42, "forged handle was not touched");

    x2e_image *live = NULL;
    EXPECT_OK(x2e_image_new(3, 2, X2E_FORMAT_RGB8, rgb, 0, sizeof rgb, &live));
    EXPECT_STATUS(x2e_model_free((x2e_model *)live), X2E_ERR_INVALID_HANDLE, "x2e_model");
    EXPECT_STATUS(x2e_cancel((x2e_context *)live), X2E_ERR_INVALID_HANDLE, "x2e_context");
    EXPECT_STATUS(x2e_context_free((x2e_context *)live), X2E_ERR_INVALID_HANDLE, "x2e_context");
    CHECK(x2e_context_adapter_name((x2e_context *)live) == NULL, "adapter name of a non-context");
    EXPECT_OK(x2e_image_free(live)); /* still alive after the wrong-kind frees */

    /* x2e_edit checks its arguments before any GPU work. */
    x2e_edit_params ep;
    x2e_edit_params_init(&ep, sizeof ep);
    x2e_image *out = (x2e_image *)0x1;
    EXPECT_STATUS(x2e_edit(NULL, NULL, NULL, &ep, NULL, NULL, &out), X2E_ERR_INVALID_ARGUMENT, "ctx is NULL");
    CHECK(out == NULL, "failed edit leaves NULL");
    EXPECT_STATUS(x2e_edit((x2e_context *)0x1234, NULL, NULL, &ep, NULL, NULL, &out), X2E_ERR_INVALID_HANDLE, "x2e_context");
    EXPECT_STATUS(x2e_edit(NULL, NULL, NULL, &ep, NULL, NULL, NULL), X2E_ERR_INVALID_ARGUMENT, "out_image");
    EXPECT_STATUS(x2e_cancel(NULL), X2E_ERR_INVALID_ARGUMENT, "NULL");
    EXPECT_OK(x2e_context_free(NULL));
    EXPECT_OK(x2e_model_free(NULL));
}

static char *path_of(const char *rel) {
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", g_root, rel);
    return b;
}

static uint8_t *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*size);
    if (b && fread(b, 1, *size, f) != *size) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

static const char *DEMO[4] = {"models/demo/transformer.gguf", "models/demo/adapter.gguf", "models/demo/text_encoder.gguf",
                              "models/demo/vae.gguf"};

static void test_models(void) {
    x2e_model *m = (x2e_model *)0x1;
    x2e_model_params mp;
    x2e_model_params_init(&mp, sizeof mp);
    EXPECT_STATUS(x2e_model_new(&mp, &m), X2E_ERR_INVALID_ARGUMENT, "transformer");
    CHECK(m == NULL, "failed new leaves NULL");
    EXPECT_STATUS(x2e_model_new(NULL, &m), X2E_ERR_INVALID_ARGUMENT, "params is NULL");
    x2e_model_params zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    EXPECT_STATUS(x2e_model_new(&zeroed, &m), X2E_ERR_INVALID_ARGUMENT, "struct_size");
    mp.model_dir = "/nonexistent/x2edit-models";
    EXPECT_STATUS(x2e_model_new(&mp, &m), X2E_ERR_IO, "no such folder");
    mp.model_dir = NULL;
    mp.transformer = "/nonexistent/transformer.gguf";
    EXPECT_STATUS(x2e_model_new(&mp, &m), X2E_ERR_IO, "no such file");
    /* A file that is not a model. */
    const char *not_model = path_of("tests/c/check.h");
    mp.transformer = mp.adapter = mp.text_encoder = mp.vae = not_model;
    x2e_status s = x2e_model_new(&mp, &m);
    CHECK(s == X2E_ERR_MODEL || s == X2E_ERR_IO || s == X2E_ERR_UNSUPPORTED, "non-model file: %s (%s)", x2e_status_name(s), x2e_last_error());
    CHECK(x2e_last_error()[0] != 0 && m == NULL, "non-model file has a message");

    /* The demo model by path, from memory and from descriptors. */
    x2e_model_params_init(&mp, sizeof mp);
    mp.transformer = path_of(DEMO[0]);
    mp.adapter = path_of(DEMO[1]);
    mp.text_encoder = path_of(DEMO[2]);
    mp.vae = path_of(DEMO[3]);
    EXPECT_OK(x2e_model_new(&mp, &m));
    EXPECT_OK(x2e_model_free(m));
    EXPECT_STATUS(x2e_model_free(m), X2E_ERR_INVALID_HANDLE, "already freed");

    EXPECT_OK(x2e_model_new_demo(&m));
    EXPECT_OK(x2e_model_free(m));
    EXPECT_STATUS(x2e_model_new_demo(NULL), X2E_ERR_INVALID_ARGUMENT, "out_model");

    size_t sizes[4];
    uint8_t *bytes[4];
    for (int i = 0; i < 4; i++) bytes[i] = slurp(path_of(DEMO[i]), &sizes[i]);
    CHECK(bytes[0] && bytes[1] && bytes[2] && bytes[3], "demo model files readable under %s", g_root);
    if (!(bytes[0] && bytes[1] && bytes[2] && bytes[3])) return;
    x2e_model_buffers b = {{bytes[0], sizes[0]}, {bytes[1], sizes[1]}, {bytes[2], sizes[2]}, {bytes[3], sizes[3]}};
    EXPECT_OK(x2e_model_new_from_memory(&b, &m));
    EXPECT_OK(x2e_model_free(m));
    EXPECT_STATUS(x2e_model_new_from_memory(NULL, &m), X2E_ERR_INVALID_ARGUMENT, "buffers");
    x2e_model_buffers bad = b;
    bad.vae.size = 0;
    EXPECT_STATUS(x2e_model_new_from_memory(&bad, &m), X2E_ERR_INVALID_ARGUMENT, "vae");
    bad = b;
    bad.transformer = b.adapter; /* an adapter is not a transformer; a truncated file is no GGUF */
    bad.vae.size = 100;
    s = x2e_model_new_from_memory(&bad, &m);
    CHECK(s == X2E_ERR_MODEL && m == NULL, "truncated GGUF: %s (%s)", x2e_status_name(s), x2e_last_error());
    for (int i = 0; i < 4; i++) free(bytes[i]);

    int fd[4];
    for (int i = 0; i < 4; i++) fd[i] = open(path_of(DEMO[i]), O_RDONLY);
    x2e_model_fds fds = {{fd[0], 0, -1}, {fd[1], 0, -1}, {fd[2], 0, -1}, {fd[3], 0, -1}};
    EXPECT_OK(x2e_model_new_from_fds(&fds, &m));
    EXPECT_OK(x2e_model_free(m));
    CHECK(lseek(fd[0], 0, SEEK_CUR) == 0, "descriptor offset unchanged");
    x2e_model_fds badf = fds;
    badf.adapter.fd = -1;
    EXPECT_STATUS(x2e_model_new_from_fds(&badf, &m), X2E_ERR_INVALID_ARGUMENT, "adapter");
    badf = fds;
    badf.vae.length = 1 << 30;
    EXPECT_STATUS(x2e_model_new_from_fds(&badf, &m), X2E_ERR_INVALID_ARGUMENT, "outside");
    badf = fds;
    badf.vae.fd = 1000; /* not open */
    EXPECT_STATUS(x2e_model_new_from_fds(&badf, &m), X2E_ERR_IO, "fd 1000");
    EXPECT_STATUS(x2e_model_new_from_fds(NULL, &m), X2E_ERR_INVALID_ARGUMENT, "fds");
    for (int i = 0; i < 4; i++) CHECK(close(fd[i]) == 0, "descriptor %d still open and ours", i);
}

/* Threads: images made, read and freed concurrently; racing frees of one handle (exactly one
 * wins); messages are per thread. */
#define THREADS 4
static x2e_image *g_shared;
static int g_free_ok[THREADS];
static pthread_barrier_t g_barrier;

static void *worker(void *arg) {
    int id = (int)(intptr_t)arg;
    uint8_t px[4 * 4 * 3], back[4 * 4 * 3];
    int bad = 0;
    for (int i = 0; i < 200; i++) {
        memset(px, id * 16 + i % 16, sizeof px);
        x2e_image *img = NULL;
        if (x2e_image_new(4, 4, X2E_FORMAT_RGB8, px, 0, sizeof px, &img) != X2E_OK) bad++;
        if (x2e_image_read(img, X2E_FORMAT_RGB8, back, 0, sizeof back) != X2E_OK || memcmp(px, back, sizeof px) != 0) bad++;
        if (x2e_image_free(img) != X2E_OK) bad++;
    }
    /* This thread's failure message stays its own while the others fail too. */
    char want[32];
    snprintf(want, sizeof want, "%#x", 0x100 + id * 8);
    x2e_image_free((x2e_image *)(uintptr_t)(0x100 + id * 8));
    pthread_barrier_wait(&g_barrier);
    if (strstr(x2e_last_error(), want) == NULL) bad++;
    g_free_ok[id] = x2e_image_free(g_shared) == X2E_OK;
    return (void *)(intptr_t)bad;
}

static void test_threads(void) {
    uint8_t px[12] = {0};
    EXPECT_OK(x2e_image_new(2, 2, X2E_FORMAT_RGB8, px, 0, sizeof px, &g_shared));
    x2e_image_free((x2e_image *)0x20); /* main thread's own message */
    char mine[256];
    snprintf(mine, sizeof mine, "%s", x2e_last_error());
    pthread_barrier_init(&g_barrier, NULL, THREADS);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
    int bad = 0, wins = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (int)(intptr_t)r;
        wins += g_free_ok[i];
    }
    pthread_barrier_destroy(&g_barrier);
    CHECK(bad == 0, "%d failures in concurrent image use", bad);
    CHECK(wins == 1, "%d threads freed the same handle", wins);
    CHECK(strcmp(mine, x2e_last_error()) == 0 && strstr(mine, "0x20") != NULL, "thread-local message changed: '%s'", x2e_last_error());
}

int main(int argc, char **argv) {
    g_root = argc > 1 ? argv[1] : ".";
    test_basics();
    test_params();
    test_images();
    test_models();
    test_threads();
    size_t c = 9, m = 9, i = 9;
    EXPECT_OK(x2e_live_handles(&c, &m, &i));
    CHECK(c == 0 && m == 0 && i == 0, "leaked handles: %zu contexts, %zu models, %zu images", c, m, i);
    return summary("misuse");
}
