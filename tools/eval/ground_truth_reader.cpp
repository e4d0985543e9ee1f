#include "tools/eval/ground_truth_reader.hpp"

#include "tools/eval/json_place.hpp"

#include <unordered_map>

namespace tierd::eval {

namespace {

// Remembers where each id was first seen, to name both places of a duplicate.
class IdRegistry {
  public:
    explicit IdRegistry(std::string_view what) : what_(what) {}

    void add(std::int64_t id, const JsonPlace &place) {
        const auto [it, inserted] = first_seen_.emplace(id, place.describe());
        if (!inserted)
            place.fail(std::string(what_) + " id " + std::to_string(id) +
                       " appears twice (first at " + it->second + ")");
    }
    bool contains(std::int64_t id) const { return first_seen_.contains(id); }

  private:
    std::string_view what_;
    std::unordered_map<std::int64_t, std::string> first_seen_;
};

bool crowd_flag(const nlohmann::json &value, const JsonPlace &place) {
    if (value.is_boolean())
        return value.get<bool>();
    const std::int64_t flag = integer_value(value, place);
    if (flag != 0 && flag != 1)
        place.fail("expected 0 or 1");
    return flag == 1;
}

} // namespace

GroundTruth parse_ground_truth(std::string_view text, const std::string &source) {
    const JsonPlace root(source);
    const nlohmann::json document = parse_json(text, root);
    if (!document.is_object())
        root.fail("expected a COCO dataset: an object with \"images\", \"annotations\" and "
                  "\"categories\"");

    GroundTruth truth;

    IdRegistry image_ids("image");
    const JsonPlace images_place = root.field("images");
    const nlohmann::json &images = required_field(document, "images", root);
    expect_array(images, images_place);
    truth.image_ids.reserve(images.size());
    for (std::size_t i = 0; i < images.size(); ++i) {
        const JsonPlace place = images_place.element(i);
        const std::int64_t id =
            integer_value(required_field(images[i], "id", place), place.field("id"));
        image_ids.add(id, place.field("id"));
        truth.image_ids.push_back(id);
    }

    IdRegistry category_ids("category");
    const JsonPlace categories_place = root.field("categories");
    const nlohmann::json &categories = required_field(document, "categories", root);
    expect_array(categories, categories_place);
    for (std::size_t i = 0; i < categories.size(); ++i) {
        const JsonPlace place = categories_place.element(i);
        Category category;
        category.id = integer_value(required_field(categories[i], "id", place), place.field("id"));
        category_ids.add(category.id, place.field("id"));
        if (const auto name = categories[i].find("name"); name != categories[i].end()) {
            if (!name->is_string())
                place.field("name").fail("expected a string");
            category.name = name->get<std::string>();
        }
        truth.categories.push_back(std::move(category));
    }

    const JsonPlace annotations_place = root.field("annotations");
    const nlohmann::json &annotations = required_field(document, "annotations", root);
    expect_array(annotations, annotations_place);
    truth.objects.reserve(annotations.size());
    for (std::size_t i = 0; i < annotations.size(); ++i) {
        const nlohmann::json &annotation = annotations[i];
        const JsonPlace place = annotations_place.element(i);
        GroundTruthObject object;
        object.image_id =
            integer_value(required_field(annotation, "image_id", place), place.field("image_id"));
        if (!image_ids.contains(object.image_id))
            place.field("image_id")
                .fail("image " + std::to_string(object.image_id) + " is not in \"images\"");
        object.category_id = integer_value(required_field(annotation, "category_id", place),
                                           place.field("category_id"));
        if (!category_ids.contains(object.category_id))
            place.field("category_id")
                .fail("category " + std::to_string(object.category_id) +
                      " is not in \"categories\"");
        object.box = box_value(required_field(annotation, "bbox", place), place.field("bbox"));
        object.area_px2 = box_area(object.box);
        if (const auto area = annotation.find("area"); area != annotation.end()) {
            object.area_px2 = finite_number(*area, place.field("area"));
            if (object.area_px2 < 0)
                place.field("area").fail("must be >= 0");
        }
        if (const auto crowd = annotation.find("iscrowd"); crowd != annotation.end())
            object.is_crowd = crowd_flag(*crowd, place.field("iscrowd"));
        truth.objects.push_back(object);
    }
    return truth;
}

GroundTruth read_ground_truth(const std::string &path) {
    return parse_ground_truth(read_text_file(path), path);
}

} // namespace tierd::eval
