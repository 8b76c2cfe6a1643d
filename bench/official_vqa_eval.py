"""A direct port of the official VQA accuracy loop, the reference our metric is checked against.

Ported from GT-Vision-Lab/VQA ``PythonEvaluationTools/vqaEvaluation/vqaEval.py`` (2021 revision):
the same data structures and steps (normalization re-run for every answer of every question, the
leave-one-out loop over answer dicts, per-question values rounded to ``n`` decimals), translated to
Python 3. Only the contraction table is taken from vlm-eval; a test pins it to the official one.
It is deliberately not optimized: it is the baseline of ``bench/vqa_accuracy.py``.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from vlm_eval.metrics._vqa import _CONTRACTIONS


class OfficialVQAEval:
    """``VQAEval`` without the file loading: ``gts`` and ``res`` are the official ``qa`` dicts
    (question id -> annotation with ``answers``/``question_type``/``answer_type``, and question
    id -> ``{"answer"}``)."""

    def __init__(self, n: int = 2) -> None:
        self.n = n
        self.accuracy: dict[str, Any] = {}
        self.eval_qa: dict[int, float] = {}
        self.contractions = dict(_CONTRACTIONS)
        self.manual_map = {
            "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
            "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
        }  # fmt: skip
        self.articles = ["a", "an", "the"]
        self.period_strip = re.compile(r"(?!<=\d)(\.)(?!\d)")
        self.comma_strip = re.compile(r"(\d)(\,)(\d)")
        self.punct = [
            ";", r"/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@",
            "`", ",", "?", "!",
        ]  # fmt: skip

    def process_punctuation(self, in_text: str) -> str:
        out_text = in_text
        for p in self.punct:
            if (p + " " in in_text or " " + p in in_text) or (
                re.search(self.comma_strip, in_text) is not None
            ):
                out_text = out_text.replace(p, "")
            else:
                out_text = out_text.replace(p, " ")
        return self.period_strip.sub("", out_text, re.UNICODE)

    def process_digit_article(self, in_text: str) -> str:
        out_text = []
        for word in in_text.lower().split():
            word = self.manual_map.setdefault(word, word)
            if word not in self.articles:
                out_text.append(word)
        for word_id, word in enumerate(out_text):
            if word in self.contractions:
                out_text[word_id] = self.contractions[word]
        return " ".join(out_text)

    def question_accuracy(self, answers: list[dict[str, Any]], prediction: str) -> float:
        """The unrounded accuracy of one question (the body of the official loop)."""
        for ans_dic in answers:
            ans_dic["answer"] = ans_dic["answer"].replace("\n", " ")
            ans_dic["answer"] = ans_dic["answer"].replace("\t", " ")
            ans_dic["answer"] = ans_dic["answer"].strip()
        res_ans = prediction.replace("\n", " ")
        res_ans = res_ans.replace("\t", " ")
        res_ans = res_ans.strip()
        gt_acc = []
        gt_answers = [ans["answer"] for ans in answers]
        if len(set(gt_answers)) > 1:
            for ans_dic in answers:
                ans_dic["answer"] = self.process_punctuation(ans_dic["answer"])
                ans_dic["answer"] = self.process_digit_article(ans_dic["answer"])
            res_ans = self.process_punctuation(res_ans)
            res_ans = self.process_digit_article(res_ans)
        for gt_ans_datum in answers:
            other_gt_ans = [item for item in answers if item != gt_ans_datum]
            matching_ans = [item for item in other_gt_ans if item["answer"] == res_ans]
            acc = min(1, float(len(matching_ans)) / 3)
            gt_acc.append(acc)
        return float(sum(gt_acc)) / len(gt_acc)

    def evaluate(self, gts: dict[int, dict[str, Any]], res: dict[int, dict[str, Any]]) -> None:
        """Fill ``accuracy`` (overall, perQuestionType, perAnswerType) and ``eval_qa``."""
        gts = copy.deepcopy(gts)  # the official code rewrites the annotations in place
        acc_qa = []
        acc_ques_type: dict[str, list[float]] = {}
        acc_ans_type: dict[str, list[float]] = {}
        for ques_id in gts:
            avg_gt_acc = self.question_accuracy(gts[ques_id]["answers"], res[ques_id]["answer"])
            ques_type = gts[ques_id]["question_type"]
            ans_type = gts[ques_id]["answer_type"]
            acc_qa.append(avg_gt_acc)
            acc_ques_type.setdefault(ques_type, []).append(avg_gt_acc)
            acc_ans_type.setdefault(ans_type, []).append(avg_gt_acc)
            self.eval_qa[ques_id] = round(100 * avg_gt_acc, self.n)
        self.accuracy["overall"] = round(100 * float(sum(acc_qa)) / len(acc_qa), self.n)
        self.accuracy["perQuestionType"] = {
            key: round(100 * float(sum(values)) / len(values), self.n)
            for key, values in acc_ques_type.items()
        }
        self.accuracy["perAnswerType"] = {
            key: round(100 * float(sum(values)) / len(values), self.n)
            for key, values in acc_ans_type.items()
        }
