# The original README's search and ranking snippets, as a user runs them.
import os

from medigan import Generators

generators = Generators()

values_list = ['dcgan', 'Mammography', 'inbreast']
models = generators.find_matching_models_by_values(values=values_list, target_values_operator='AND',
                                                   are_keys_also_matched=True, is_case_sensitive=False)
print(f'Found models: {models}')
assert [m.model_id for m in models] == ["standin-00001"]

# create a list of search terms, find a model and generate ("modalities" is in no config: nothing is generated)
values_list = ['dcgan', 'mMg', 'ClF', 'modalities', 'inbreast']
result = generators.find_model_and_generate(values=values_list, target_values_operator='AND', are_keys_also_matched=True,
                                            is_case_sensitive=False, num_samples=5, output_path="found")
assert result is None and not os.path.exists("found")

# rank the models by a performance metric and return ranked list of models
ranked_models = generators.rank_models_by_performance(metric="FID", order="asc")
print(ranked_models)
assert ranked_models[0]["model_id"] == "standin-00001" and all(r["FID"] is not None for r in ranked_models)

# find the models, then rank them by a performance metric and return ranked list of models
values_list = ['dcgan', 'MMG']
ranked_models = generators.find_models_and_rank(values=values_list, target_values_operator='AND',
                                                are_keys_also_matched=True, is_case_sensitive=False,
                                                metric="CLF.trained_on_real_and_fake.f1", order="desc")
print(ranked_models)
assert [r["model_id"] for r in ranked_models] == ["standin-00002", "standin-00001"]

# find the models, then rank them, and then generate samples with the best ranked model.
generators.find_models_rank_and_generate(values=values_list, target_values_operator='AND', are_keys_also_matched=True,
                                         is_case_sensitive=False, metric="turing_test.AUC", order="asc", num_samples=5,
                                         output_path="ranked")
assert len(os.listdir("ranked")) == 5

# find all models that contain a specific key-value pair in their model config.
key = "modality"
value = "Full-Field Mammography"
found_models = generators.get_models_by_key_value_pair(key1=key, value1=value, is_case_sensitive=False)
print(found_models)
assert len(found_models) == 2
print("readme_search OK")
