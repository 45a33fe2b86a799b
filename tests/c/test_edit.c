/*
 * Edits through the C ABI with the embedded demo model (what `x2edit edit` uses with no model
 * flags) on the GPU:
 *   test_edit make-input IN.png            writes the synthetic source image
 *   test_edit run IN.png CLI.png PROMPT     edits IN.png (seed 7, 2 steps) and checks the pixels
 *                                           against CLI.png, written by `x2edit edit` with the
 *                                           same settings; reports progress; cancels a run
 *                                           from another thread mid-way (while a third call
 *                                           on the same context gets X2E_ERR_BUSY) and one
 *                                           from the callback; edits again; and frees the
 *                                           context from another thread mid-edit.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "png_io.h"

#define SEED 7
#define STEPS 2

static const char *STAGES[] = {"text", "encode", "denoise", "decode"};

/* What a progress callback saw. */
typedef struct {
    int calls;
    int stage_seen[4];
    int last_stage;
    int in_order;
    int max_step;
    uint32_t steps;
    int cancel_at_step;           /* -1: never */
    int via_thread;               /* cancel through the helper thread rather than the return value */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int phase;                    /* 1: helper asked to act, 2: helper done */
} progress_log;

static void log_init(progress_log *l, int cancel_at_step, int via_thread) {
    memset(l, 0, sizeof *l);
    l->last_stage = -1;
    l->in_order = 1;
    l->max_step = -1;
    l->cancel_at_step = cancel_at_step;
    l->via_thread = via_thread;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->cond, NULL);
}

static int32_t on_progress(x2e_stage stage, uint32_t step, uint32_t steps, void *user_data) {
    progress_log *l = user_data;
    l->calls++;
    if ((int)stage < l->last_stage) l->in_order = 0;
    l->last_stage = stage;
    l->stage_seen[stage]++;
    if (stage == X2E_STAGE_DENOISE) {
        if ((int)step > l->max_step) l->max_step = (int)step;
        l->steps = steps;
        printf("  progress: %s %u/%u\n", STAGES[stage], step, steps);
    } else {
        printf("  progress: %s\n", STAGES[stage]);
    }
    fflush(stdout);
    if (stage == X2E_STAGE_DENOISE && (int)step == l->cancel_at_step) {
        if (!l->via_thread) return 1;
        /* Hand over to the helper thread and wait until it has cancelled. */
        pthread_mutex_lock(&l->lock);
        l->phase = 1;
        pthread_cond_broadcast(&l->cond);
        while (l->phase != 2) pthread_cond_wait(&l->cond, &l->lock);
        pthread_mutex_unlock(&l->lock);
    }
    return 0;
}

typedef struct {
    x2e_context *ctx;
    x2e_model *model;
    x2e_image *src;
    x2e_edit_params params;
    progress_log log;
    x2e_status status;
    x2e_image *out;
    char message[512];
    x2e_status busy_status; /* what a concurrent x2e_edit on the same context got */
    int free_ctx;           /* the helper frees the context instead of calling x2e_cancel */
} job;

static void *run_job(void *arg) {
    job *j = arg;
    j->status = x2e_edit(j->ctx, j->model, j->src, &j->params, on_progress, &j->log, &j->out);
    snprintf(j->message, sizeof j->message, "%s", x2e_last_error());
    return NULL;
}

/* The helper: waits for the callback's signal, tries a concurrent edit, cancels, reports back. */
static void *helper(void *arg) {
    job *j = arg;
    pthread_mutex_lock(&j->log.lock);
    while (j->log.phase != 1) pthread_cond_wait(&j->log.cond, &j->log.lock);
    pthread_mutex_unlock(&j->log.lock);
    x2e_image *other = (x2e_image *)0x1;
    j->busy_status = x2e_edit(j->ctx, j->model, j->src, &j->params, NULL, NULL, &other);
    printf("  concurrent x2e_edit on the same context: %s (%s)\n", x2e_status_name(j->busy_status), x2e_last_error());
    if (other != NULL) j->busy_status = X2E_ERR_INTERNAL;
    x2e_status s = j->free_ctx ? x2e_context_free(j->ctx) : x2e_cancel(j->ctx);
    if (s != X2E_OK) j->busy_status = s;
    pthread_mutex_lock(&j->log.lock);
    j->log.phase = 2;
    pthread_cond_broadcast(&j->log.cond);
    pthread_mutex_unlock(&j->log.lock);
    return NULL;
}

static uint8_t *pixels_of(x2e_image *img, uint32_t *w, uint32_t *h) {
    int32_t f;
    if (x2e_image_info(img, w, h, &f) != X2E_OK) return NULL;
    size_t n = (size_t)*w * *h * 3;
    uint8_t *px = malloc(n);
    if (px && x2e_image_read(img, X2E_FORMAT_RGB8, px, 0, n) != X2E_OK) {
        free(px);
        return NULL;
    }
    return px;
}

static int make_input(const char *path) {
    /* 48x40 gradients with a square: not the model's size, so the resize path runs too. */
    uint32_t w = 48, h = 40;
    uint8_t px[48 * 40 * 3];
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            uint8_t *p = px + (y * w + x) * 3;
            int sq = x > 12 && x < 30 && y > 10 && y < 26;
            p[0] = (uint8_t)(x * 5);
            p[1] = sq ? 230 : (uint8_t)(y * 6);
            p[2] = sq ? 20 : 128;
        }
    return png_write_rgb(path, w, h, px);
}

static int run(const char *in_path, const char *cli_path, const char *prompt) {
    CHECK((x2e_api_version() >> 16) == (X2E_API_VERSION >> 16), "api version");
    x2e_context *ctx = NULL;
    x2e_model *model = NULL;
    EXPECT_OK(x2e_context_new(NULL, &ctx));
    if (!ctx) return summary("edit");
    printf("adapter: %s\n", x2e_context_adapter_name(ctx));
    EXPECT_OK(x2e_model_new_demo(&model));

    /* The source as RGB with padded rows (stride != width * 3). */
    uint32_t w, h;
    uint8_t *packed;
    if (png_read_rgb(in_path, &w, &h, &packed) != 0) return 1;
    size_t stride = w * 3 + 5;
    uint8_t *rows = calloc(stride, h);
    for (uint32_t y = 0; y < h; y++) memcpy(rows + y * stride, packed + y * w * 3, w * 3);
    x2e_image *src = NULL;
    EXPECT_OK(x2e_image_new(w, h, X2E_FORMAT_RGB8, rows, stride, stride * h, &src));
    free(rows);
    free(packed);

    job j;
    memset(&j, 0, sizeof j);
    j.ctx = ctx;
    j.model = model;
    j.src = src;
    x2e_edit_params_init(&j.params, sizeof j.params);
    j.params.prompt = prompt;
    j.params.seed = SEED;
    j.params.steps = STEPS;

    /* 1. A whole edit on this thread, against the CLI's pixels. */
    printf("edit 1: whole edit, seed %d, %d steps\n", SEED, STEPS);
    log_init(&j.log, -1, 0);
    run_job(&j);
    CHECK(j.status == X2E_OK && j.out != NULL, "edit: %s (%s)", x2e_status_name(j.status), j.message);
    CHECK(j.log.in_order && j.log.stage_seen[0] && j.log.stage_seen[1] && j.log.stage_seen[3], "stages in order, all seen");
    CHECK(j.log.steps == STEPS && j.log.max_step == STEPS, "denoise progress %d/%u", j.log.max_step, j.log.steps);
    uint32_t ow = 0, oh = 0, cw = 0, ch = 0;
    uint8_t *mine = j.out ? pixels_of(j.out, &ow, &oh) : NULL;
    uint8_t *cli = NULL;
    CHECK(png_read_rgb(cli_path, &cw, &ch, &cli) == 0, "CLI output %s readable", cli_path);
    x2e_image *first = j.out;
    if (mine && cli) {
        CHECK(ow == cw && oh == ch, "size %ux%u, CLI %ux%u", ow, oh, cw, ch);
        int maxd = 0;
        size_t diff = 0;
        for (size_t i = 0; ow == cw && oh == ch && i < (size_t)ow * oh * 3; i++) {
            int d = abs((int)mine[i] - (int)cli[i]);
            if (d > maxd) maxd = d;
            diff += d != 0;
        }
        printf("  %ux%u, %zu of %u values differ from the CLI's, max difference %d\n", ow, oh, diff, ow * oh * 3, maxd);
        CHECK(maxd == 0, "pixels differ from the CLI's output (max %d)", maxd);
    }
    free(cli);

    /* 2. On a worker thread, cancelled from a helper thread after the first denoising step
     * starts; meanwhile a concurrent edit on the same context is refused. */
    printf("edit 2: cancelled from another thread mid-way\n");
    log_init(&j.log, 0, 1);
    j.out = NULL;
    pthread_t worker, help;
    pthread_create(&help, NULL, helper, &j);
    pthread_create(&worker, NULL, run_job, &j);
    pthread_join(worker, NULL);
    pthread_join(help, NULL);
    CHECK(j.status == X2E_ERR_CANCELLED && j.out == NULL, "cancelled edit: %s (%s)", x2e_status_name(j.status), j.message);
    CHECK(strstr(j.message, "cancelled") != NULL, "message '%s'", j.message);
    CHECK(j.busy_status == X2E_ERR_BUSY, "concurrent edit got %s", x2e_status_name(j.busy_status));
    CHECK(j.log.max_step == 0 && j.log.stage_seen[3] == 0, "stopped mid-way: last step %d, decode %d", j.log.max_step, j.log.stage_seen[3]);

    /* 3. Cancelled by the callback's return value. */
    printf("edit 3: cancelled by the progress callback\n");
    log_init(&j.log, 0, 0);
    run_job(&j);
    CHECK(j.status == X2E_ERR_CANCELLED && j.out == NULL, "callback cancel: %s (%s)", x2e_status_name(j.status), j.message);

    /* 4. The context works after cancellations, and the result is the same as the first. */
    printf("edit 4: again after the cancellations\n");
    log_init(&j.log, -1, 0);
    run_job(&j);
    CHECK(j.status == X2E_OK, "edit after cancel: %s (%s)", x2e_status_name(j.status), j.message);
    uint32_t w4, h4;
    uint8_t *again = j.out ? pixels_of(j.out, &w4, &h4) : NULL;
    CHECK(mine && again && w4 == ow && h4 == oh && memcmp(mine, again, (size_t)ow * oh * 3) == 0, "repeat edit differs");
    free(mine);
    free(again);

    EXPECT_OK(x2e_image_free(j.out));
    j.out = NULL;

    /* 5. Freeing the context from another thread while it edits cancels the edit; the edit
     * returns normally and the handle is dead afterwards. */
    printf("edit 5: context freed from another thread mid-way\n");
    log_init(&j.log, 0, 1);
    j.free_ctx = 1;
    pthread_create(&help, NULL, helper, &j);
    pthread_create(&worker, NULL, run_job, &j);
    pthread_join(worker, NULL);
    pthread_join(help, NULL);
    CHECK(j.status == X2E_ERR_CANCELLED && j.out == NULL, "edit on a freed context: %s (%s)", x2e_status_name(j.status), j.message);
    CHECK(j.busy_status == X2E_ERR_BUSY, "concurrent edit got %s", x2e_status_name(j.busy_status));
    EXPECT_STATUS(x2e_context_free(ctx), X2E_ERR_INVALID_HANDLE, "already freed");
    EXPECT_STATUS(x2e_cancel(ctx), X2E_ERR_INVALID_HANDLE, "already freed");

    EXPECT_OK(x2e_image_free(first));
    EXPECT_OK(x2e_image_free(src));
    EXPECT_OK(x2e_model_free(model));
    size_t c = 9, m = 9, i = 9;
    x2e_live_handles(&c, &m, &i);
    CHECK(c == 0 && m == 0 && i == 0, "leaked handles: %zu contexts, %zu models, %zu images", c, m, i);
    return summary("edit");
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "make-input") == 0) return make_input(argv[2]);
    if (argc == 5 && strcmp(argv[1], "run") == 0) return run(argv[2], argv[3], argv[4]);
    fprintf(stderr, "usage: test_edit make-input IN.png | test_edit run IN.png CLI.png PROMPT\n");
    return 2;
}
