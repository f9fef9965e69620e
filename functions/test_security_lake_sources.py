"""The Security Lake custom-source resource against botocore's own model of the Security Lake API
(a Stubber refuses any request or answer the real API's shapes would not take), answering a local
HTTP server as CloudFormation's pre-signed response URL.

Run: .venv/bin/python -m unittest functions/test_security_lake_sources.py (scripts/test.sh does).
"""
import http.server
import json
import os
import sys
import threading
import unittest

import boto3
from botocore.stub import Stubber

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import security_lake_sources as resource  # noqa: E402

SOURCES = [
    ("atlassian_auth", "AUTHENTICATION"),
    ("atlassian_account", "ACCOUNT_CHANGE"),
    ("atlassian_group", "GROUP_MANAGEMENT"),
    ("atlassian_access", "USER_ACCESS"),
    ("atlassian_entity", "ENTITY_MANAGEMENT"),
]
ROLE = "arn:aws:iam::123456789012:role/stack-OcsfCrawlerRole-abc"
BUCKET = "aws-security-data-lake-eu-west-1-abcdef"


def props(external_id="stack", role=ROLE):
    return {
        "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:x",
        "SourceVersion": "1.0",
        "CrawlerRoleArn": role,
        "ExternalId": external_id,
        "Principal": "123456789012",
        "Bucket": BUCKET,
        "Sources": [{"Name": n, "EventClass": c} for n, c in SOURCES],
    }


def create_request(name, event_class, external_id="stack", role=ROLE):
    return {
        "sourceName": name,
        "sourceVersion": "1.0",
        "eventClasses": [event_class],
        "configuration": {
            "crawlerConfiguration": {"roleArn": role},
            "providerIdentity": {"externalId": external_id, "principal": "123456789012"},
        },
    }


def create_answer(name):
    return {
        "source": {
            "sourceName": name,
            "sourceVersion": "1.0",
            "provider": {"location": f"s3://{BUCKET}/ext/{name}/", "roleArn": ROLE},
        }
    }


def list_answer(names):
    return {
        "sources": [
            {
                "account": "123456789012",
                "region": "eu-west-1",
                "sources": [
                    {
                        "customLogSource": {
                            "sourceName": n,
                            "sourceVersion": "1.0",
                            "provider": {"location": f"s3://{BUCKET}/ext/{n}/", "roleArn": ROLE},
                        }
                    }
                    for n in names
                ],
            }
        ]
    }


def list_request(names):
    return {
        "sources": [{"customLogSource": {"sourceName": n, "sourceVersion": "1.0"}} for n in names]
    }


class CloudFormation(http.server.BaseHTTPRequestHandler):
    """The pre-signed response URL: keeps every answer it is given."""

    answers = []

    def do_PUT(self):  # noqa: N802: the http.server name
        length = int(self.headers["Content-Length"])
        CloudFormation.answers.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class CustomSources(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http.server.HTTPServer(("127.0.0.1", 0), CloudFormation)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.url = f"http://127.0.0.1:{cls.server.server_port}/response?X-Amz-Signature=x"

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()

    def setUp(self):
        CloudFormation.answers.clear()
        self.client = boto3.client(
            "securitylake",
            region_name="eu-west-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        self.stub = Stubber(self.client)
        self.stub.activate()

    def tearDown(self):
        self.stub.assert_no_pending_responses()
        self.stub.deactivate()

    def run_request(self, kind, properties, old=None, physical=None):
        event = {
            "RequestType": kind,
            "ResponseURL": self.url,
            "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/s/1",
            "RequestId": "r-1",
            "LogicalResourceId": "OcsfCustomSources",
            "ResourceType": "Custom::SecurityLakeCustomSources",
            "ResourceProperties": properties,
        }
        if old is not None:
            event["OldResourceProperties"] = old
        if physical is not None:
            event["PhysicalResourceId"] = physical
        resource.handler(event, None, client=self.client)
        self.assertEqual(len(CloudFormation.answers), 1, "one answer per request")
        answer = CloudFormation.answers[0]
        self.assertEqual(answer["RequestId"], "r-1")
        self.assertEqual(answer["LogicalResourceId"], "OcsfCustomSources")
        return answer

    def expect_creates(self, sources, external_id="stack"):
        for name, event_class in sources:
            self.stub.add_response(
                "create_custom_log_source",
                create_answer(name),
                create_request(name, event_class, external_id),
            )

    def test_create_registers_the_five_sources_and_answers_their_locations(self):
        self.expect_creates(SOURCES)
        names = [n for n, _ in SOURCES]
        self.stub.add_response("list_log_sources", list_answer(names), list_request(names))
        answer = self.run_request("Create", props())
        self.assertEqual(answer["Status"], "SUCCESS", answer["Reason"])
        self.assertEqual(answer["PhysicalResourceId"], "security-lake-sources:" + ",".join(names))
        locations = dict(p.split("=", 1) for p in answer["Data"]["Locations"].split(";"))
        self.assertEqual(locations, {n: f"s3://{BUCKET}/ext/{n}/" for n in names})

    def test_a_location_outside_the_given_bucket_fails_the_operation(self):
        self.expect_creates(SOURCES)
        names = [n for n, _ in SOURCES]
        self.stub.add_response("list_log_sources", list_answer(names), list_request(names))
        wrong = props()
        wrong["Bucket"] = "aws-security-data-lake-eu-west-1-other"
        answer = self.run_request("Create", wrong)
        self.assertEqual(answer["Status"], "FAILED")
        self.assertIn("set SecurityLakeBucketName", answer["Reason"])
        self.assertEqual(answer["PhysicalResourceId"], "security-lake-sources:" + ",".join(names))

    def test_a_source_registered_by_hand_fails_create_and_the_rollback_spares_it(self):
        self.expect_creates(SOURCES[:2])
        self.stub.add_client_error(
            "create_custom_log_source",
            service_error_code="ConflictException",
            http_status_code=409,
            expected_params=create_request(*SOURCES[2]),
        )
        answer = self.run_request("Create", props())
        self.assertEqual(answer["Status"], "FAILED")
        self.assertIn("atlassian_group already exists", answer["Reason"])
        self.assertIn("delete-custom-log-source --source-name atlassian_group", answer["Reason"])
        pid = answer["PhysicalResourceId"]
        self.assertEqual(pid, "security-lake-sources:atlassian_auth,atlassian_account")

        # CloudFormation's rollback deletes what this resource created, and nothing else.
        CloudFormation.answers.clear()
        for name in ("atlassian_auth", "atlassian_account"):
            self.stub.add_response(
                "delete_custom_log_source", {}, {"sourceName": name, "sourceVersion": "1.0"}
            )
        answer = self.run_request("Delete", props(), physical=pid)
        self.assertEqual(answer["Status"], "SUCCESS", answer["Reason"])

    def test_an_unchanged_update_touches_nothing_and_a_changed_one_replaces_each_source(self):
        names = [n for n, _ in SOURCES]
        pid = "security-lake-sources:" + ",".join(names)
        self.stub.add_response("list_log_sources", list_answer(names), list_request(names))
        answer = self.run_request("Update", props(), old=props(), physical=pid)
        self.assertEqual(answer["Status"], "SUCCESS", answer["Reason"])
        self.assertEqual(answer["PhysicalResourceId"], pid, "same resource: no delete follows")

        CloudFormation.answers.clear()
        for name, event_class in SOURCES:
            self.stub.add_response(
                "delete_custom_log_source", {}, {"sourceName": name, "sourceVersion": "1.0"}
            )
            self.stub.add_response(
                "create_custom_log_source",
                create_answer(name),
                create_request(name, event_class, "new-id"),
            )
        self.stub.add_response("list_log_sources", list_answer(names), list_request(names))
        answer = self.run_request("Update", props("new-id"), old=props(), physical=pid)
        self.assertEqual(answer["Status"], "SUCCESS", answer["Reason"])
        self.assertEqual(answer["PhysicalResourceId"], pid)

    def test_a_failure_mid_update_keeps_what_exists_in_the_physical_id(self):
        names = [n for n, _ in SOURCES]
        pid = "security-lake-sources:" + ",".join(names)
        self.stub.add_response(
            "delete_custom_log_source", {}, {"sourceName": "atlassian_auth", "sourceVersion": "1.0"}
        )
        self.stub.add_client_error(
            "create_custom_log_source",
            service_error_code="ThrottlingException",
            http_status_code=429,
            expected_params=create_request("atlassian_auth", "AUTHENTICATION", "new-id"),
        )
        answer = self.run_request("Update", props("new-id"), old=props(), physical=pid)
        self.assertEqual(answer["Status"], "FAILED")
        self.assertIn("ThrottlingException", answer["Reason"])
        self.assertEqual(answer["PhysicalResourceId"], "security-lake-sources:" + ",".join(names[1:]))

    def test_delete_of_sources_already_gone_succeeds(self):
        self.stub.add_client_error(
            "delete_custom_log_source",
            service_error_code="ResourceNotFoundException",
            http_status_code=404,
            expected_params={"sourceName": "atlassian_auth", "sourceVersion": "1.0"},
        )
        answer = self.run_request(
            "Delete", props(), physical="security-lake-sources:atlassian_auth"
        )
        self.assertEqual(answer["Status"], "SUCCESS", answer["Reason"])
        self.assertEqual(answer["PhysicalResourceId"], "security-lake-sources:")

    def test_a_delete_that_cannot_delete_fails_and_keeps_its_sources(self):
        self.stub.add_client_error(
            "delete_custom_log_source",
            service_error_code="AccessDeniedException",
            http_status_code=403,
            expected_params={"sourceName": "atlassian_auth", "sourceVersion": "1.0"},
        )
        pid = "security-lake-sources:atlassian_auth"
        answer = self.run_request("Delete", props(), physical=pid)
        self.assertEqual(answer["Status"], "FAILED")
        self.assertIn("AccessDeniedException", answer["Reason"])
        self.assertEqual(answer["PhysicalResourceId"], pid)

    def test_a_missing_property_fails_without_a_request_and_still_answers(self):
        broken = props()
        del broken["CrawlerRoleArn"]
        answer = self.run_request("Create", broken)
        self.assertEqual(answer["Status"], "FAILED")
        self.assertIn("CrawlerRoleArn", answer["Reason"])
        self.assertEqual(answer["PhysicalResourceId"], "security-lake-sources:")


if __name__ == "__main__":
    unittest.main()
