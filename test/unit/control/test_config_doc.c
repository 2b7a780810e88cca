/* The default config's comments document exactly the keys the loader takes
 * (they become vswitchd.yaml(5)): every section and key the loader names in its
 * "unknown key; use ..." errors is described, nothing else is, and every
 * default written there loads. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/config.h"
#include "control/config_doc.h"

static struct vs_config_doc doc;

/* The names in an error's "use a, b or c" tail, as a space-separated list. */
static void names_after_use(const char *err, char *out, size_t size)
{
    const char *use = strstr(err, "; use ");
    char buf[512], *save = NULL;

    out[0] = '\0';
    CU_ASSERT_PTR_NOT_NULL_FATAL(use);
    snprintf(buf, sizeof(buf), "%s", use + 6);
    for (char *w = strtok_r(buf, " ,", &save); w; w = strtok_r(NULL, " ,", &save))
        if (strcmp(w, "or"))
            snprintf(out + strlen(out), size - strlen(out), "%s%s", out[0] ? " " : "", w);
}

/* The loader's error for text, which must be refused. */
static void refused(const char *text, char *err, size_t size)
{
    struct vs_config cfg;

    CU_ASSERT_EQUAL(vs_config_load_string(text, strlen(text), "t.yaml", &cfg, err, size), -EINVAL);
    vs_config_free(&cfg);
}

static bool in_list(const char *list, const char *word)
{
    size_t n = strlen(word);

    for (const char *p = strstr(list, word); p; p = strstr(p + 1, word))
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
            return true;
    return false;
}

static void test_parsed(void)
{
    const struct vs_config_doc_entry *group = vs_config_doc_find(&doc, "control", "group");
    const struct vs_config_doc_entry *size = vs_config_doc_find(&doc, "fdb", "size");
    const struct vs_config_doc_entry *mode = vs_config_doc_find(&doc, "pollers", "mode");

    CU_ASSERT(strlen(doc.intro) > 40);
    CU_ASSERT_PTR_NOT_NULL(vs_config_doc_find(&doc, "ports", ""));
    /* Commented out in the default: optional, described by the lines above it. */
    CU_ASSERT_PTR_NOT_NULL_FATAL(group);
    CU_ASSERT(group->optional);
    CU_ASSERT_PTR_NOT_NULL(strstr(group->text, "Group owning the socket"));
    /* The key after it keeps only its own lines. */
    CU_ASSERT_PTR_NULL(strstr(vs_config_doc_find(&doc, "control", "idle_timeout")->text, "Group"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(size);
    CU_ASSERT_STRING_EQUAL(size->value, "65536");
    CU_ASSERT_FALSE(size->optional);
    /* "busy: ..." and "adaptive: ..." each start a line. */
    CU_ASSERT_PTR_NOT_NULL_FATAL(mode);
    CU_ASSERT_PTR_NOT_NULL(strstr(mode->text, "\nadaptive: "));
    /* Nothing under ports is a key. */
    for (unsigned i = 0; i < doc.n; i++)
        CU_ASSERT(strcmp(doc.e[i].section, "ports") || !doc.e[i].key[0]);
}

static void test_sections_match_loader(void)
{
    char err[512], names[256];

    refused("no_such_section: 1\n", err, sizeof(err));
    names_after_use(err, names, sizeof(names));
    for (char *save = NULL, *w = strtok_r(names, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (!vs_config_doc_find(&doc, w, ""))
            fprintf(stderr, "section %s is not described in configs/default.yaml\n", w);
        CU_ASSERT_PTR_NOT_NULL(vs_config_doc_find(&doc, w, ""));
    }
    names_after_use(err, names, sizeof(names));
    for (unsigned i = 0; i < doc.n; i++)
        CU_ASSERT(in_list(names, doc.e[i].section));
}

static void test_keys_match_loader(void)
{
    char err[512], names[256], text[256];

    for (unsigned i = 0; i < doc.n; i++) {
        const char *section = doc.e[i].section;

        if (doc.e[i].key[0] || !strcmp(section, "ports") || !strcmp(section, "mirrors"))
            continue;
        snprintf(text, sizeof(text), "%s:\n  no_such_key: 1\n", section);
        refused(text, err, sizeof(err));
        names_after_use(err, names, sizeof(names));
        for (char *save = NULL, *w = strtok_r(names, " ", &save); w;
             w = strtok_r(NULL, " ", &save)) {
            if (!vs_config_doc_find(&doc, section, w))
                fprintf(stderr, "%s.%s is not described in configs/default.yaml\n", section, w);
            CU_ASSERT_PTR_NOT_NULL(vs_config_doc_find(&doc, section, w));
        }
        names_after_use(err, names, sizeof(names));
        for (unsigned j = 0; j < doc.n; j++)
            if (doc.e[j].key[0] && !strcmp(doc.e[j].section, section)) {
                if (!in_list(names, doc.e[j].key))
                    fprintf(stderr, "%s.%s is described but the loader does not take it\n", section,
                            doc.e[j].key);
                CU_ASSERT(in_list(names, doc.e[j].key));
            }
    }
}

static void test_defaults_load(void)
{
    for (unsigned i = 0; i < doc.n; i++) {
        const struct vs_config_doc_entry *e = &doc.e[i];
        struct vs_config cfg;
        char text[256], err[512];

        if (!e->key[0] || e->optional)
            continue;
        snprintf(text, sizeof(text), "%s:\n  %s: %s\n", e->section, e->key, e->value);
        int rc = vs_config_load_string(text, strlen(text), "t.yaml", &cfg, err, sizeof(err));
        if (rc)
            fprintf(stderr, "%s", err);
        CU_ASSERT_EQUAL(rc, 0);
        vs_config_free(&cfg);
    }
}

static void test_bounds(void)
{
    static const char text[] = "# intro\n\nsec:\n  # about k\n  # opt: x\n  k: 1 # trailing\n";
    struct vs_config_doc d;
    char *big;

    CU_ASSERT_EQUAL_FATAL(vs_config_doc_parse(text, strlen(text), &d), 0);
    CU_ASSERT_STRING_EQUAL(d.intro, "intro");
    CU_ASSERT_EQUAL(d.n, 3);
    CU_ASSERT(vs_config_doc_find(&d, "sec", "opt") &&
              vs_config_doc_find(&d, "sec", "opt")->optional);
    CU_ASSERT_STRING_EQUAL(vs_config_doc_find(&d, "sec", "k")->value, "1");
    CU_ASSERT_STRING_EQUAL(vs_config_doc_find(&d, "sec", "opt")->text, "about k");
    vs_config_doc_free(&d);

    /* More keys than the table holds: refused, nothing leaked. */
    big = malloc(100 * 16 + 16);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    strcpy(big, "s:\n");
    for (int i = 0; i < 100; i++)
        sprintf(big + strlen(big), "  k%d: 1\n", i);
    CU_ASSERT_EQUAL(vs_config_doc_parse(big, strlen(big), &d), -EINVAL);
    free(big);
}

int main(void)
{
    CU_pSuite s;

    if (vs_config_doc_parse(vs_config_default_yaml, vs_config_default_yaml_len, &doc)) {
        fprintf(stderr, "cannot parse the default config's comments\n");
        return 1;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("config_doc", NULL, NULL);
    CU_add_test(s, "the default's comments are read into entries", test_parsed);
    CU_add_test(s, "sections described = sections the loader takes", test_sections_match_loader);
    CU_add_test(s, "keys described = keys the loader takes", test_keys_match_loader);
    CU_add_test(s, "every default as written loads", test_defaults_load);
    CU_add_test(s, "small inputs and the entry limit", test_bounds);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    vs_config_doc_free(&doc);
    return failed ? 1 : 0;
}
