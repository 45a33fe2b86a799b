/*
 * JNI glue for dev.x2edit.X2EditNative over the C ABI (ffi/include/x2edit.h). Each function
 * forwards to one x2e_ call and turns a failure into a dev.x2edit.X2EditException carrying
 * the status and x2e_last_error(). Handles cross as jlong. No JNI call is made while a Java
 * exception is pending. Built by CMake on Android and by tests/ffi.sh on the host.
 */
#include <jni.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "x2edit.h"

#define H(p) ((jlong)(intptr_t)(p))
#define P(type, h) ((type *)(intptr_t)(h))

static void throw_x2e(JNIEnv *env, int status, const char *message) {
    if ((*env)->ExceptionCheck(env)) return; /* keep the first exception */
    jclass cls = (*env)->FindClass(env, "dev/x2edit/X2EditException");
    if (!cls) return;
    jmethodID init = (*env)->GetMethodID(env, cls, "<init>", "(ILjava/lang/String;)V");
    jstring msg = (*env)->NewStringUTF(env, message);
    if (init && msg) {
        jobject e = (*env)->NewObject(env, cls, init, (jint)status, msg);
        if (e) (*env)->Throw(env, (jthrowable)e);
    }
}

/* Throws for a failed status; returns non-zero if it did. */
static int failed(JNIEnv *env, x2e_status s) {
    if (s == X2E_OK) return 0;
    throw_x2e(env, s, x2e_last_error());
    return 1;
}

/* A NUL-terminated copy of a Java byte[] (UTF-8 from X2EditNative.c()), or NULL. Free it. */
static char *cstr(JNIEnv *env, jbyteArray a) {
    if (!a) return NULL;
    jsize n = (*env)->GetArrayLength(env, a);
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    (*env)->GetByteArrayRegion(env, a, 0, n, (jbyte *)s);
    s[n] = 0;
    return s;
}

JNIEXPORT jint JNICALL Java_dev_x2edit_X2EditNative_apiVersion(JNIEnv *env, jclass cls) {
    (void)env, (void)cls;
    return (jint)x2e_api_version();
}

JNIEXPORT jlong JNICALL Java_dev_x2edit_X2EditNative_contextNew(JNIEnv *env, jclass cls, jint precision, jbyteArray adapter,
                                                                jlong max_binding) {
    (void)cls;
    x2e_context_params p;
    x2e_context_params_init(&p, sizeof p);
    char *a = cstr(env, adapter);
    p.precision = precision;
    p.adapter = a;
    p.max_binding = (uint64_t)max_binding;
    x2e_context *ctx = NULL;
    x2e_status s = x2e_context_new(&p, &ctx);
    free(a);
    return failed(env, s) ? 0 : H(ctx);
}

JNIEXPORT void JNICALL Java_dev_x2edit_X2EditNative_contextFree(JNIEnv *env, jclass cls, jlong ctx) {
    (void)cls;
    failed(env, x2e_context_free(P(x2e_context, ctx)));
}

JNIEXPORT void JNICALL Java_dev_x2edit_X2EditNative_cancel(JNIEnv *env, jclass cls, jlong ctx) {
    (void)cls;
    failed(env, x2e_cancel(P(x2e_context, ctx)));
}

JNIEXPORT jstring JNICALL Java_dev_x2edit_X2EditNative_adapterName(JNIEnv *env, jclass cls, jlong ctx) {
    (void)cls;
    const char *name = x2e_context_adapter_name(P(x2e_context, ctx));
    if (!name) {
        throw_x2e(env, X2E_ERR_INVALID_HANDLE, x2e_last_error());
        return NULL;
    }
    return (*env)->NewStringUTF(env, name);
}

JNIEXPORT jlong JNICALL Java_dev_x2edit_X2EditNative_modelNewDemo(JNIEnv *env, jclass cls) {
    (void)cls;
    x2e_model *m = NULL;
    return failed(env, x2e_model_new_demo(&m)) ? 0 : H(m);
}

JNIEXPORT jlong JNICALL Java_dev_x2edit_X2EditNative_modelNewPaths(JNIEnv *env, jclass cls, jbyteArray dir, jbyteArray transformer,
                                                                   jbyteArray transformer_config, jbyteArray adapter,
                                                                   jbyteArray text_encoder, jbyteArray vae, jbyteArray vae_config) {
    (void)cls;
    x2e_model_params p;
    x2e_model_params_init(&p, sizeof p);
    char *s[7] = {cstr(env, dir), cstr(env, transformer), cstr(env, transformer_config), cstr(env, adapter),
                  cstr(env, text_encoder), cstr(env, vae), cstr(env, vae_config)};
    p.model_dir = s[0];
    p.transformer = s[1];
    p.transformer_config = s[2];
    p.adapter = s[3];
    p.text_encoder = s[4];
    p.vae = s[5];
    p.vae_config = s[6];
    x2e_model *m = NULL;
    x2e_status st = x2e_model_new(&p, &m);
    for (int i = 0; i < 7; i++) free(s[i]);
    return failed(env, st) ? 0 : H(m);
}

/* A direct ByteBuffer's bytes from position to limit (Java checked it is direct). */
static x2e_buffer direct(JNIEnv *env, jobject buf) {
    x2e_buffer b = {NULL, 0};
    if (!buf) return b;
    uint8_t *base = (*env)->GetDirectBufferAddress(env, buf);
    jclass cls = (*env)->GetObjectClass(env, buf);
    jmethodID pos = (*env)->GetMethodID(env, cls, "position", "()I");
    jmethodID rem = (*env)->GetMethodID(env, cls, "remaining", "()I");
    if (!base || !pos || !rem) return b;
    jint p = (*env)->CallIntMethod(env, buf, pos);
    jint r = (*env)->CallIntMethod(env, buf, rem);
    if ((*env)->ExceptionCheck(env)) return b;
    b.data = base + p;
    b.size = (size_t)r;
    return b;
}

JNIEXPORT jlong JNICALL Java_dev_x2edit_X2EditNative_modelNewBuffersDirect(JNIEnv *env, jclass cls, jobject transformer, jobject adapter,
                                                                     jobject text_encoder, jobject vae) {
    (void)cls;
    x2e_model_buffers b = {direct(env, transformer), direct(env, adapter), direct(env, text_encoder), direct(env, vae)};
    if ((*env)->ExceptionCheck(env)) return 0;
    x2e_model *m = NULL;
    return failed(env, x2e_model_new_from_memory(&b, &m)) ? 0 : H(m);
}

JNIEXPORT jlong JNICALL Java_dev_x2edit_X2EditNative_modelNewFds(JNIEnv *env, jclass cls, jintArray fds, jlongArray offsets,
                                                                 jlongArray lengths) {
    (void)cls;
    if (!fds || !offsets || !lengths || (*env)->GetArrayLength(env, fds) != 4 || (*env)->GetArrayLength(env, offsets) != 4 ||
        (*env)->GetArrayLength(env, lengths) != 4) {
        throw_x2e(env, X2E_ERR_INVALID_ARGUMENT, "modelNewFds: fds, offsets and lengths need 4 entries each");
        return 0;
    }
    jint fd[4];
    jlong off[4], len[4];
    (*env)->GetIntArrayRegion(env, fds, 0, 4, fd);
    (*env)->GetLongArrayRegion(env, offsets, 0, 4, off);
    (*env)->GetLongArrayRegion(env, lengths, 0, 4, len);
    x2e_model_fds f = {{fd[0], off[0], len[0]}, {fd[1], off[1], len[1]}, {fd[2], off[2], len[2]}, {fd[3], off[3], len[3]}};
    x2e_model *m = NULL;
    return failed(env, x2e_model_new_from_fds(&f, &m)) ? 0 : H(m);
}

JNIEXPORT void JNICALL Java_dev_x2edit_X2EditNative_modelFree(JNIEnv *env, jclass cls, jlong model) {
    (void)cls;
    failed(env, x2e_model_free(P(x2e_model, model)));
}

/* Checks offset against a Java array; returns the bytes after it, or -1 after throwing. */
static jlong span(JNIEnv *env, jbyteArray a, jint offset) {
    if (!a) {
        throw_x2e(env, X2E_ERR_INVALID_ARGUMENT, "the pixel array is null");
        return -1;
    }
    jsize n = (*env)->GetArrayLength(env, a);
    if (offset < 0 || offset > n) {
        throw_x2e(env, X2E_ERR_INVALID_ARGUMENT, "offset is outside the pixel array");
        return -1;
    }
    return (jlong)n - offset;
}

JNIEXPORT jlong JNICALL Java_dev_x2edit_X2EditNative_imageNew(JNIEnv *env, jclass cls, jint width, jint height, jint format,
                                                              jbyteArray pixels, jint offset, jint stride) {
    (void)cls;
    jlong size = span(env, pixels, offset);
    if (size < 0) return 0;
    if (width < 0 || height < 0 || stride < 0) {
        throw_x2e(env, X2E_ERR_INVALID_ARGUMENT, "negative width, height or stride");
        return 0;
    }
    jbyte *px = (*env)->GetByteArrayElements(env, pixels, NULL);
    if (!px) return 0;
    x2e_image *img = NULL;
    x2e_status s = x2e_image_new((uint32_t)width, (uint32_t)height, format, (const uint8_t *)px + offset, (size_t)stride,
                                 (size_t)size, &img);
    (*env)->ReleaseByteArrayElements(env, pixels, px, JNI_ABORT);
    return failed(env, s) ? 0 : H(img);
}

JNIEXPORT jintArray JNICALL Java_dev_x2edit_X2EditNative_imageInfo(JNIEnv *env, jclass cls, jlong image) {
    (void)cls;
    uint32_t w = 0, h = 0;
    int32_t f = 0;
    if (failed(env, x2e_image_info(P(x2e_image, image), &w, &h, &f))) return NULL;
    jint v[3] = {(jint)w, (jint)h, (jint)f};
    jintArray out = (*env)->NewIntArray(env, 3);
    if (out) (*env)->SetIntArrayRegion(env, out, 0, 3, v);
    return out;
}

JNIEXPORT void JNICALL Java_dev_x2edit_X2EditNative_imageRead(JNIEnv *env, jclass cls, jlong image, jint format, jbyteArray dst,
                                                              jint offset, jint stride) {
    (void)cls;
    jlong size = span(env, dst, offset);
    if (size < 0) return;
    if (stride < 0) {
        throw_x2e(env, X2E_ERR_INVALID_ARGUMENT, "negative stride");
        return;
    }
    jbyte *px = (*env)->GetByteArrayElements(env, dst, NULL);
    if (!px) return;
    x2e_status s = x2e_image_read(P(x2e_image, image), format, (uint8_t *)px + offset, (size_t)stride, (size_t)size);
    (*env)->ReleaseByteArrayElements(env, dst, px, s == X2E_OK ? 0 : JNI_ABORT);
    failed(env, s);
}

JNIEXPORT void JNICALL Java_dev_x2edit_X2EditNative_imageFree(JNIEnv *env, jclass cls, jlong image) {
    (void)cls;
    failed(env, x2e_image_free(P(x2e_image, image)));
}

/* The progress trampoline: runs on the edit's (this JNI call's) thread, so env is valid. */
typedef struct {
    JNIEnv *env;
    jobject listener;
    jmethodID on_progress;
} listener_ref;

static int32_t on_progress(x2e_stage stage, uint32_t step, uint32_t steps, void *user_data) {
    listener_ref *l = user_data;
    JNIEnv *env = l->env;
    if ((*env)->ExceptionCheck(env)) return 1;
    jboolean stop = (*env)->CallBooleanMethod(env, l->listener, l->on_progress, (jint)stage, (jint)step, (jint)steps);
    /* A throwing listener cancels; its exception stays pending and reaches the caller. */
    return (*env)->ExceptionCheck(env) || stop ? 1 : 0;
}

JNIEXPORT jlong JNICALL Java_dev_x2edit_X2EditNative_edit(JNIEnv *env, jclass cls, jlong ctx, jlong model, jlong image,
                                                          jbyteArray prompt, jint task, jint prompt_format, jint steps,
                                                          jfloat guidance, jlong seed, jint size, jboolean cond_sample,
                                                          jlong memory_budget, jobject listener) {
    (void)cls;
    if (steps < 0 || memory_budget < 0) {
        throw_x2e(env, X2E_ERR_INVALID_ARGUMENT, "negative steps or memory budget");
        return 0;
    }
    listener_ref l = {env, listener, NULL};
    if (listener) {
        jclass lc = (*env)->GetObjectClass(env, listener);
        l.on_progress = (*env)->GetMethodID(env, lc, "onProgress", "(III)Z");
        if (!l.on_progress) return 0; /* NoSuchMethodError pending */
    }
    char *p = cstr(env, prompt);
    x2e_edit_params ep;
    x2e_edit_params_init(&ep, sizeof ep);
    ep.prompt = p;
    ep.task = task;
    ep.prompt_format = prompt_format;
    ep.steps = (uint32_t)steps;
    ep.guidance = guidance;
    ep.seed = (uint64_t)seed;
    ep.size = size;
    ep.cond_sample = cond_sample ? 1 : 0;
    ep.memory_budget = (uint64_t)memory_budget;
    x2e_image *out = NULL;
    x2e_status s = x2e_edit(P(x2e_context, ctx), P(x2e_model, model), P(x2e_image, image), &ep, listener ? on_progress : NULL,
                            &l, &out);
    free(p);
    if ((*env)->ExceptionCheck(env)) { /* the listener threw: that exception wins */
        x2e_image_free(out);
        return 0;
    }
    return failed(env, s) ? 0 : H(out);
}
