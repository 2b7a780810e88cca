/* Request parsing and reply formatting of the control protocol, without sockets. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "control/server.h"

struct parsed {
    int ret;
    json_t *id, *params;
    const char *command;
    char err[512];
};

static void parse(const char *line, size_t len, struct parsed *p)
{
    memset(p->err, 0, sizeof(p->err));
    p->ret = vs_ctl_parse_request(line, len, &p->id, &p->command, &p->params, p->err,
                                  sizeof(p->err));
}

static void release(struct parsed *p)
{
    json_decref(p->id);
    json_decref(p->params);
    free((char *)p->command);
}

static void test_good(void)
{
    struct parsed p;
    const char *line = "{\"id\": 7, \"command\": \"add-port\", \"params\": {\"name\": \"vm1\"}}";

    parse(line, strlen(line), &p);
    CU_ASSERT_EQUAL_FATAL(p.ret, 0);
    CU_ASSERT_STRING_EQUAL(p.command, "add-port");
    CU_ASSERT(json_is_integer(p.id) && json_integer_value(p.id) == 7);
    CU_ASSERT(json_is_object(p.params));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(p.params, "name")), "vm1");
    release(&p);

    /* No id, no params: id NULL, params {}. Extra members are ignored. */
    line = "{\"command\":\"version\",\"extra\":[1,2]}";
    parse(line, strlen(line), &p);
    CU_ASSERT_EQUAL_FATAL(p.ret, 0);
    CU_ASSERT_PTR_NULL(p.id);
    CU_ASSERT(json_is_object(p.params) && json_object_size(p.params) == 0);
    CU_ASSERT_STRING_EQUAL(p.command, "version");
    release(&p);

    /* Any JSON value is an id; null params mean {}. The length bounds the parse. */
    line = "{\"id\":{\"a\":[1]},\"command\":\"x\",\"params\":null}GARBAGE";
    parse(line, strlen(line) - 7, &p);
    CU_ASSERT_EQUAL_FATAL(p.ret, 0);
    CU_ASSERT(json_is_object(p.id));
    CU_ASSERT(json_is_object(p.params));
    release(&p);
}

static void test_bad(void)
{
    static const struct {
        const char *line, *err;
        int has_id;
    } cases[] = {
        {"{\"command\": \"x\"", "invalid JSON at byte 16: '}' expected near end of file; a "
                                "request is one line {\"id\": ..., \"command\": \"<name>\", "
                                "\"params\": {...}}", 0},
        {"hello", "invalid JSON at byte 6: invalid token near 'hello'; a request is one line "
                  "{\"id\": ..., \"command\": \"<name>\", \"params\": {...}}", 0},
        {"[1,2]", "a request must be a JSON object, not an array: {\"id\": ..., \"command\": "
                  "\"<name>\", \"params\": {...}}", 0},
        {"\"add-port\"", "a request must be a JSON object, not a string: {\"id\": ..., "
                         "\"command\": \"<name>\", \"params\": {...}}", 0},
        {"{\"id\": 3}", "missing \"command\"; a request is {\"id\": ..., \"command\": "
                        "\"<name>\", \"params\": {...}}", 1},
        {"{\"id\": 3, \"command\": 5}", "\"command\" must be a string, not a number", 1},
        {"{\"id\": \"x\", \"command\": \"a\", \"params\": [1]}",
         "\"params\" must be an object, not an array", 1},
        {"{\"id\": 1, \"command\": \"a\", \"params\": \"p\"}",
         "\"params\" must be an object, not a string", 1},
        {"{\"command\": \"a\", \"command\": \"b\"}",
         "invalid JSON at byte 27: duplicate object key near '\"command\"'; a request is one "
         "line {\"id\": ..., \"command\": \"<name>\", \"params\": {...}}", 0},
        {"{\"command\": \"a\\u0000b\"}",
         "invalid JSON at byte 23: \\u0000 is not allowed without JSON_ALLOW_NUL near "
         "'\"a\\u0000b\"'; a request is one line {\"id\": ..., \"command\": \"<name>\", "
         "\"params\": {...}}", 0},
        {"{\"command\": \"a\"} {}", "invalid JSON at byte 19: end of file expected near '{'; a "
                                    "request is one line {\"id\": ..., \"command\": \"<name>\", "
                                    "\"params\": {...}}", 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct parsed p;
        parse(cases[i].line, strlen(cases[i].line), &p);
        CU_ASSERT_EQUAL(p.ret, -EPROTO);
        CU_ASSERT_PTR_NULL(p.command);
        CU_ASSERT_PTR_NULL(p.params);
        CU_ASSERT_EQUAL(p.id != NULL, cases[i].has_id);
        CU_ASSERT_PTR_NULL(strchr(p.err, '\n'));
        if (strcmp(p.err, cases[i].err)) {
            fprintf(stderr, "\ncase %zu:\n  got:  %s\n  want: %s\n", i, p.err, cases[i].err);
            CU_FAIL("wrong error");
        }
        release(&p);
    }
}

static void test_oversized(void)
{
    size_t len = VS_CTL_MAX_LINE + 1;
    char *line = malloc(len);
    struct parsed p;

    CU_ASSERT_PTR_NOT_NULL_FATAL(line);
    memset(line, ' ', len);
    memcpy(line, "{\"command\":\"x\"}", 15);
    parse(line, len, &p);
    CU_ASSERT_EQUAL(p.ret, -EPROTO);
    CU_ASSERT_STRING_EQUAL(p.err, "request longer than 65536 bytes");
    release(&p);
    /* Exactly the limit is fine (trailing spaces are JSON whitespace). */
    parse(line, VS_CTL_MAX_LINE, &p);
    CU_ASSERT_EQUAL(p.ret, 0);
    release(&p);
    free(line);
}

static void test_reply(void)
{
    json_t *id = json_integer(42), *res = json_pack("{s:i}", "removed", 3);
    char *line;

    line = vs_ctl_format_reply(id, 0, res, NULL);
    CU_ASSERT_STRING_EQUAL(line, "{\"id\":42,\"ok\":true,\"result\":{\"removed\":3}}");
    free(line);
    line = vs_ctl_format_reply(NULL, 0, NULL, NULL);
    CU_ASSERT_STRING_EQUAL(line, "{\"id\":null,\"ok\":true,\"result\":{}}");
    free(line);
    line = vs_ctl_format_reply(id, -ENOENT, NULL, "no port 'vm9'");
    CU_ASSERT_STRING_EQUAL(line, "{\"id\":42,\"ok\":false,\"error\":{\"code\":\"ENOENT\","
                                 "\"message\":\"no port 'vm9'\"}}");
    free(line);
    /* No message: the errno's text. Control bytes and non-ASCII never break the line. */
    line = vs_ctl_format_reply(NULL, -EEXIST, NULL, "");
    CU_ASSERT_STRING_EQUAL(line, "{\"id\":null,\"ok\":false,\"error\":{\"code\":\"EEXIST\","
                                 "\"message\":\"File exists\"}}");
    free(line);
    line = vs_ctl_format_reply(NULL, -EPROTO, NULL, "bad\nline\xff");
    CU_ASSERT_STRING_EQUAL(line, "{\"id\":null,\"ok\":false,\"error\":{\"code\":\"EPROTO\","
                                 "\"message\":\"bad line?\"}}");
    free(line);
    json_decref(id);
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("request", NULL, NULL);
    CU_add_test(s, "good", test_good);
    CU_add_test(s, "bad", test_bad);
    CU_add_test(s, "oversized", test_oversized);
    CU_add_test(s, "reply", test_reply);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
